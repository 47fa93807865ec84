"""Continual learning: strategies behind one interface, stream runners, one strategy's
forgetting curve and CL metrics.

>>> sorted(STRATEGIES)
['ewc', 'ewc_kfac', 'joint', 'l2', 'lwf', 'mas', 'naive', 'online_ewc', 'replay', 'si']
"""

from axionlab.continual.buffer import ReservoirBuffer
from axionlab.continual.forgetting import (
    FORGETTING_STREAMS,
    ForgettingCurve,
    LearntTask,
    PenaltyStabilityError,
    forgetting_curve,
    learn_task,
)
from axionlab.continual.metrics import (
    aurc,
    average_accuracy,
    backward_transfer,
    forgetting,
    forward_transfer,
    retention,
)
from axionlab.continual.strategies import (
    EWC,
    EWCKFAC,
    L2,
    STRATEGIES,
    Joint,
    LearningWithoutForgetting,
    MemoryAwareSynapses,
    OnlineEWC,
    Replay,
    Strategy,
    SynapticIntelligence,
    TaskContext,
    build_strategy,
)
from axionlab.continual.stream import (
    ContinualResult,
    RetentionResult,
    StreamResult,
    retention_curve,
    run_continual,
    run_stream,
    train_task,
)

__all__ = [
    "EWC",
    "EWCKFAC",
    "FORGETTING_STREAMS",
    "L2",
    "STRATEGIES",
    "ContinualResult",
    "ForgettingCurve",
    "Joint",
    "LearningWithoutForgetting",
    "LearntTask",
    "MemoryAwareSynapses",
    "OnlineEWC",
    "PenaltyStabilityError",
    "Replay",
    "ReservoirBuffer",
    "RetentionResult",
    "Strategy",
    "StreamResult",
    "SynapticIntelligence",
    "TaskContext",
    "aurc",
    "average_accuracy",
    "backward_transfer",
    "build_strategy",
    "forgetting",
    "forgetting_curve",
    "forward_transfer",
    "learn_task",
    "retention",
    "retention_curve",
    "run_continual",
    "run_stream",
    "train_task",
]
