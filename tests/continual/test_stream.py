from types import SimpleNamespace

import numpy as np
import pytest
import torch

from axionlab.continual import (
    EWC,
    Replay,
    Strategy,
    retention_curve,
    run_continual,
    run_stream,
    train_task,
)
from axionlab.data import Task, load_dataset
from axionlab.errors import InputError
from axionlab.models import expand_head
from axionlab.train import TrainConfig, evaluate

ADAM = TrainConfig(optimizer="adam", lr=1e-2, epochs=5, batch_size=16)


def _stream(cl: SimpleNamespace) -> list[Task]:
    return [cl.make_task(i, g) for i, g in enumerate([(0, 1), (2, 3), (4, 5)])]


def _run(cl: SimpleNamespace, scenario: str, strategy: Strategy):  # type: ignore[no-untyped-def]
    return run_stream(
        lambda n: cl.make_model(n),
        _stream(cl),
        strategy,
        ADAM,
        scenario=scenario,
        generator=torch.Generator().manual_seed(3),
    )  # type: ignore[arg-type]


def test_class_il_stream_grows_head_forgets_and_is_deterministic(cl: SimpleNamespace) -> None:
    first, second = _run(cl, "class_il", Strategy()), _run(cl, "class_il", Strategy())
    r = first.accuracy
    assert r.shape == (3, 3)
    assert np.isnan(r[np.triu_indices(3, 1)]).all()  # unseen classes cannot be scored
    assert np.all(np.diag(r) >= 0.9)
    assert first.bwt < -0.3 and first.forgetting > 0.3  # naive class-IL forgets old tasks
    assert np.array_equal(r, second.accuracy, equal_nan=True)
    assert [h.steps for h in first.histories] == [20, 20, 20]


def test_task_il_masks_logits_and_scores_every_task(cl: SimpleNamespace) -> None:
    result = _run(cl, "task_il", Strategy())
    assert np.isfinite(result.accuracy).all()
    assert result.avg_acc > 0.9  # two-way problems per task keep their heads apart
    assert np.isfinite(result.fwt)
    with pytest.raises(InputError, match="already holds"):
        strategy = EWC()
        strategy.tasks_seen = 1
        _run(cl, "task_il", strategy)


def test_retention_curve_scores_from_step_zero(cl: SimpleNamespace) -> None:
    a, b = cl.make_task(0, (0, 1)), cl.make_task(1, (2, 3))
    curves = {}
    for name, strategy in (("naive", Strategy()), ("replay", Replay(memory=60))):
        model = cl.make_model(2)
        train_task(
            model,
            a,
            strategy,
            ADAM,
            scenario="class_il",
            generator=torch.Generator().manual_seed(0),
        )
        expand_head(model, 4, generator=torch.Generator().manual_seed(2))
        before = evaluate(model, a.test)[1]  # step 0 is scored with the grown head
        config = TrainConfig(optimizer="sgd", lr=0.1, epochs=1, batch_size=16)
        curves[name] = retention_curve(
            model,
            a.test,
            b.train,
            strategy,
            eval_steps=[5, 40],
            train_config=config,
            task_b_eval=b.test,
            generator=torch.Generator().manual_seed(1),
        )
        assert curves[name].acc_a[0] == before
    naive, replay = curves["naive"], curves["replay"]
    assert naive.steps.tolist() == [0, 5, 40] and naive.history.steps == 40
    assert naive.retention[0] == 1.0 and naive.acc_b[-1] > 0.9
    assert naive.acc_a[-1] < 0.5 * naive.acc_a[0]
    assert replay.aurc() > naive.aurc()
    with pytest.raises(InputError, match="has not learnt task A"):
        retention_curve(
            cl.make_model(2),
            a.test,
            b.train,
            EWC(),
            eval_steps=[5],
            train_config=config,
            generator=torch.Generator(),
        )


def test_run_continual_is_one_deterministic_record() -> None:
    ds = load_dataset("digits")
    config = TrainConfig(optimizer="adam", lr=1e-3, epochs=2, batch_size=128)
    runs = [
        run_continual(
            ds,
            scenario="task_il",
            strategy="replay",
            n_tasks=5,
            train_config=config,
            seed=0,
            strategy_options={"memory": 50},
            progress=show,
        )
        for show in (None, False)
    ]
    assert runs[0].accuracy.shape == (5, 5)
    assert np.array_equal(runs[0].accuracy, runs[1].accuracy)
    assert runs[0].avg_acc == pytest.approx(runs[0].accuracy[-1].mean())
    row = runs[0].as_row()
    assert (
        row["strategy"] == "replay" and row["scenario"] == "task_il" and len(row["accuracy"]) == 5
    )
