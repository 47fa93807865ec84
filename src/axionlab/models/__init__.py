"""Architecture zoo behind a registry: ``build_model(name, input_shape, num_classes)``.

>>> model = build_model("mlp", (1, 8, 8), 10)
>>> model.family, model.head_name, count_parameters(model)
('mlp', 'head', 17610)
"""

from axionlab.models.core import (
    MODELS,
    Classifier,
    build_model,
    count_parameters,
    expand_head,
    get_head,
    init_parameters,
    set_head,
)
from axionlab.models.hf import LMScore, evaluate_lm, lm_loss, next_token_accuracy
from axionlab.models.recurrent import candidate_drive, hidden_states, is_recurrent
from axionlab.models.zoo import (
    PAPER_INPUT_SHAPE,
    PAPER_NUM_CLASSES,
    PAPER_TARGETS,
    SEQUENCE_MODELS,
    SMALL_MODELS,
    PaperTarget,
    wrn_parameter_count,
)

__all__ = [
    "MODELS",
    "PAPER_INPUT_SHAPE",
    "PAPER_NUM_CLASSES",
    "PAPER_TARGETS",
    "SEQUENCE_MODELS",
    "SMALL_MODELS",
    "Classifier",
    "LMScore",
    "PaperTarget",
    "build_model",
    "candidate_drive",
    "count_parameters",
    "evaluate_lm",
    "expand_head",
    "get_head",
    "hidden_states",
    "init_parameters",
    "is_recurrent",
    "lm_loss",
    "next_token_accuracy",
    "set_head",
    "wrn_parameter_count",
]
