"""EWC and L2 consolidation of a model sharded with FSDP2: task B trained across ranks.

:func:`sharded_strategy` builds the sharded form of a quadratic strategy for one rank of a
collective job (:func:`axionlab.execute.distributed.launch`); passed with the sharded model to
:func:`~axionlab.continual.forgetting_curve`, it runs EXP-01's task-B protocol unchanged:

- importances and anchors are this rank's dim-0 shards (the EWC Fisher from
  :func:`~axionlab.landscape.sharded.sharded_fisher_diagonal`, the per-example empirical Fisher
  of the unsharded EWC), so no rank ever holds a full-size copy;
- the penalty is summed shard-locally and its value all-reduced, while its gradient stays the
  local one (``local + (total − local).detach()``), so every rank sees the same objective (and
  takes the same divergence branch) and each shard gets exactly its own penalty gradient;
- the stability check's largest added curvature is the maximum over ranks.

Every rank trains on the same mini-batches (model parallelism: FSDP2's averaging of identical
gradients is the single-process gradient), so the curve equals the unsharded one to rounding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from axionlab.continual.strategies import EWC, L2, QuadraticStrategy, Strategy, TaskContext
from axionlab.data.splits import Task, random_subset
from axionlab.errors import InputError
from axionlab.execute.distributed import Ranks
from axionlab.landscape._common import Params
from axionlab.landscape.fisher import sequence_loss
from axionlab.landscape.sharded import local_parameters, sharded_fisher_diagonal

SHARDED_STRATEGIES = ("naive", "ewc", "l2")
"""Strategies with a sharded form."""


class _Sharded(QuadraticStrategy):
    """The shard-local penalty and stability bound of a quadratic strategy."""

    ranks: Ranks
    _sharded: dict[str, nn.Parameter]

    def consolidate(self, model: nn.Module, importance: Params, decay: float | None) -> None:
        local = {n: w.to_local() if hasattr(w, "to_local") else w for n, w in importance.items()}
        anchor = local_parameters(model, self.ranks)
        # FSDP2 swaps a unit's registered parameters for unsharded tensors while it runs (the
        # root's stay so until backward, when the penalty is taken), so keep the sharded ones
        self._sharded = {n: p for n, p in model.named_parameters() if p.requires_grad}
        if decay is None or not self.terms:
            self.terms.append((local, anchor))
            return
        old = self.terms[0][0]
        self.terms = [({n: w + decay * old[n] for n, w in local.items()}, anchor)]

    def penalty(self, model: nn.Module) -> Tensor | None:
        if not self.terms:
            return None
        live: dict[str, Any] = {
            n: p.to_local() if hasattr(p, "to_local") else p for n, p in self._sharded.items()
        }
        local = torch.zeros((), device=self.ranks.device)
        for importance, anchor in self.terms:
            for name, omega in importance.items():
                local = local + (omega * (live[name] - anchor[name]).square()).sum()
        total = local.detach().clone()
        self.ranks.all_reduce(total, "shard")
        return self.factor * self.strength * (local + (total - local.detach()))

    def max_curvature(self) -> float:
        largest = super().max_curvature()  # this rank's shards
        value = torch.tensor(largest, dtype=torch.float64)
        self.ranks.all_reduce(value, "shard", op="max")
        return float(value)


class ShardedEWC(_Sharded, EWC):
    """:class:`~axionlab.continual.EWC` on a sharded model (per-example empirical Fisher)."""

    def after_task(self, model: nn.Module, task: Task, context: TaskContext) -> None:
        if context.class_groups is not None:
            raise InputError("sharded EWC is class-incremental only (no task-IL output masks)")
        if self.fisher != "empirical" or self.fisher_estimate != "per_example":
            raise InputError(
                "sharded EWC computes the per-example empirical Fisher; set fisher: empirical "
                f"and fisher_estimate: per_example (got {self.fisher!r}, {self.fisher_estimate!r})"
            )
        x, y = random_subset(*task.train, self.fisher_samples, context.generator)
        loss = sequence_loss if y.dim() == 2 else F.cross_entropy
        fisher = sharded_fisher_diagonal(model, loss, (x, y), self.ranks)
        self.consolidate(model, fisher, self.decay)
        Strategy.after_task(self, model, task, context)


class ShardedL2(_Sharded, L2):
    """:class:`~axionlab.continual.L2` on a sharded model."""


def sharded_copy(strategy: Strategy, ranks: Ranks) -> Strategy:
    """The sharded form of a fresh (not yet consolidated) ``naive``, ``ewc`` or ``l2`` strategy,
    with the same settings, for this rank.

    Raises
    ------
    InputError
        For another strategy, or one that has already consolidated a task.
    """
    if type(strategy) is Strategy:
        return strategy
    classes: dict[type[Strategy], type[_Sharded]] = {EWC: ShardedEWC, L2: ShardedL2}
    target = classes.get(type(strategy))
    if target is None:
        raise InputError(
            f"strategy '{strategy.name}' has no sharded form; with distributed task B use one "
            f"of {', '.join(repr(s) for s in SHARDED_STRATEGIES)}"
        )
    if strategy.tasks_seen:
        raise InputError(f"strategy '{strategy.name}' has already consolidated a task")
    copy = target.__new__(target)
    copy.__dict__.update(strategy.__dict__)
    copy.ranks = ranks
    return copy


def sharded_strategy(name: str, ranks: Ranks, **options: Any) -> Strategy:
    """The sharded form of strategy ``name`` for this rank (``naive``, ``ewc`` or ``l2``).

    Raises
    ------
    InputError
        For a strategy without a sharded form (its state is not shard-local: SI, MAS, LwF,
        replay and joint need views of the full model or of past data).
    """
    if name == "naive":
        return Strategy()
    classes: dict[str, type[_Sharded]] = {"ewc": ShardedEWC, "l2": ShardedL2}
    if name not in classes:
        raise InputError(
            f"strategy '{name}' has no sharded form; with distributed task B use one of "
            f"{', '.join(repr(s) for s in SHARDED_STRATEGIES)}"
        )
    strategy = classes[name](**options)
    strategy.ranks = ranks
    return strategy
