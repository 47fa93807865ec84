"""What a protocol is: units, the context a unit's phases run in, and the protocol interface.

A protocol is thin orchestration over the library: it *plans* independent units from a config,
*runs* each unit as a sequence of cached phases (through :meth:`UnitContext.phase`), *analyses*
the stored phase outputs into typed tables, and *reports* them. The runner
(:mod:`axionlab.protocols.runner`) owns everything around that: the run directory, seeding, the
executor, resume, the index and the tracker. A protocol never knows which executor runs it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch

from axionlab.config import RunConfig
from axionlab.repro import numpy_rng, torch_generator
from axionlab.runs import PhaseMissing, PhaseRecord, Run, phase_key

C = TypeVar("C", bound=RunConfig)
P = TypeVar("P")

Compute = Callable[[Path], Mapping[str, Any] | None]
"""A phase body: write the phase's files into the directory given, return its small summary."""


@dataclass(frozen=True)
class Unit(Generic[P]):
    """One independent piece of a run (e.g. EXP-01: architecture × dataset × seed).

    ``params`` is what the unit is about, as the config's own sections (not indices into the
    config's lists), so a phase reads ``unit.params.architecture`` directly. Units are pickled to
    worker processes, so ``params`` must pickle.
    """

    id: str
    params: P
    seed: int = 0


@dataclass(frozen=True)
class UnitContext(Generic[C, P]):
    """Everything one unit's phases need: the run, the config, the unit and the code version."""

    run: Run
    config: C
    unit: Unit[P]
    version: str

    @property
    def seed(self) -> int:
        return self.unit.seed

    @property
    def params(self) -> P:
        return self.unit.params

    def generator(self, *names: str | int) -> torch.Generator:
        """The unit's torch random stream ``names`` (:func:`~axionlab.repro.torch_generator`)."""
        return torch_generator(self.seed, *names)

    def rng(self, *names: str | int) -> np.random.Generator:
        """The unit's NumPy random stream ``names`` (see :func:`~axionlab.repro.numpy_rng`)."""
        return numpy_rng(self.seed, *names)

    def phase(
        self,
        name: str,
        config_slice: Any,
        compute: Compute,
        inputs: Sequence[PhaseRecord] = (),
    ) -> PhaseRecord:
        """The unit's phase ``name``, computed by ``compute`` unless stored with the same key.

        The key hashes the protocol version, ``config_slice`` (everything in the config the phase
        depends on) and the keys of ``inputs`` (the phases it reads), so changing any of them
        recomputes this phase and nothing that does not depend on it.
        """
        key = phase_key(self.version, config_slice, list(inputs) if inputs else ())
        return self.run.phase(self.unit.id, name, key, compute)

    def summary(self, phase: str) -> Mapping[str, Any]:
        """The stored summary of one of this unit's complete phases (checksums verified)."""
        return phase_summary(self.run, self.unit.id, phase)


class Protocol(ABC, Generic[C, P]):
    """A research programme over config ``C`` whose units carry ``P``."""

    name: ClassVar[str]
    VERSION: ClassVar[str]
    """Bumped whenever the same config would give different numbers (keys every phase)."""
    Config: type[C]

    def check_inputs(self, config: C) -> None:
        """Fail early, before a run directory exists, on missing data directories etc."""

    @abstractmethod
    def plan(self, config: C) -> list[Unit[P]]:
        """The independent units of a run, in a stable order."""

    @abstractmethod
    def run_unit(self, ctx: UnitContext[C, P]) -> None:
        """Compute (or reuse) every phase of one unit."""

    @abstractmethod
    def analyse(self, run: Run, config: C) -> dict[str, float]:
        """Turn stored phase outputs into tables; return headline metrics for the tracker."""

    @abstractmethod
    def report(self, run: Run, config: C) -> Path:
        """Build the report from the stored tables alone; return the main report file."""

    def context(self, run: Run, config: C, unit: Unit[P]) -> UnitContext[C, P]:
        return UnitContext(run, config, unit, self.VERSION)


def require_phase(run: Run, unit: str, phase: str) -> PhaseRecord:
    """A complete phase whose files match their checksums.

    Raises
    ------
    PhaseMissing
        When the phase is not complete (the message says how to resume the run).
    PhaseError
        When its manifest is unreadable or a file does not match its checksum.
    """
    try:
        return run.verified(unit, phase)
    except PhaseMissing:
        raise PhaseMissing(
            f"{run.path}: phase '{phase}' of unit '{unit}' is not complete; finish "
            f"the run with 'axionlab run CONFIG --resume {run.path}'"
        ) from None


def phase_summary(run: Run, unit: str, phase: str) -> Mapping[str, Any]:
    """The summary a complete phase stored in its manifest (see :func:`require_phase`)."""
    return require_phase(run, unit, phase).summary


def provenance(run: Run, outputs: str = "") -> str:
    """A report's closing line: protocol, version, and where the config, environment and
    ``outputs`` (the raw results, described by the caller) are stored."""
    text = (
        f"Protocol {run.info['protocol']} v{run.info['version']}; config: config.yaml; "
        "environment: env.json"
    )
    return f"{text}; {outputs}" if outputs else f"{text}."
