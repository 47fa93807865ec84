"""Process groups for one model sharded over many ranks (torch.distributed, FSDP2).

A *collective job* is a module-level function ``fn(ranks, payload)`` that every rank runs; rank
0's return value is the job's result. :func:`launch` runs one:

- **locally spawned** (no process group yet): ``world_size`` processes are started with
  ``torch.multiprocessing`` (spawn), joined over a loopback TCP store, and rank 0's result comes
  back through a file; a rank that raises or dies fails the whole job with
  :class:`DistributedJobError` (nothing half-written: the caller writes the result);
- **under torchrun or Ray Train** (a process group already initialised, every rank running the
  same ``axionlab run``): rank 0 runs the protocol, and the other ranks wait in :func:`serve`;
  each job is broadcast from rank 0 and run by all ranks.

The world is a 2-D :class:`~torch.distributed.device_mesh.DeviceMesh` ``(replicate, shard)``:
``replicas`` groups of ``world_size / replicas`` ranks. The model is sharded within a group
(:func:`shard_model`, FSDP2 ``fully_shard``; with ``replicas > 1`` that is HSDP) and independent
work (grid points, examples) is spread across groups.
"""

from __future__ import annotations

import ctypes
import datetime
import os
import pickle
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import torch
import torch.distributed as dist
from torch import nn
from torch.multiprocessing.spawn import ProcessException, ProcessExitedException
from torch.multiprocessing.spawn import start_processes as _start_processes

from axionlab.checks import check_choice, check_count
from axionlab.errors import ConfigError, InputError

Backend = Literal["gloo", "nccl"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
Launcher = Literal["local", "ray"]
LAUNCHERS: tuple[Launcher, ...] = get_args(Launcher)
P = TypeVar("P")
R = TypeVar("R")
_TIMEOUT = datetime.timedelta(minutes=30)
_STOP = "axionlab.stop"
_spawn: Callable[..., Any] = _start_processes  # untyped in torch
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_MMAP_THRESHOLD_BYTES = 128 * 1024


class DistributedJobError(RuntimeError):
    """A rank of a collective job raised or died; the job produced no result."""


@dataclass(frozen=True)
class DistributedSpec:
    """How many ranks a job runs on, over which backend, in how many data-parallel replicas.

    ``world_size`` ranks form ``replicas`` groups of ``world_size // replicas`` ranks; the model
    is sharded within a group. ``backend`` is ``"gloo"`` (CPU) or ``"nccl"`` (one GPU per rank).
    """

    world_size: int = 1
    backend: Backend = "gloo"
    replicas: int = 1
    launcher: Launcher = "local"
    """``"local"``: spawn the ranks on this machine; ``"ray"``: a Ray Train ``TorchTrainer``
    with ``world_size`` workers on the cluster at ``address`` (``None``: a local Ray instance)."""
    address: str | None = None

    def __post_init__(self) -> None:
        check_count("distributed.world_size", self.world_size, minimum=1, error=ConfigError)
        check_count("distributed.replicas", self.replicas, minimum=1, error=ConfigError)
        check_choice("distributed.backend", self.backend, BACKENDS, error=ConfigError)
        check_choice("distributed.launcher", self.launcher, LAUNCHERS, error=ConfigError)
        if self.world_size % self.replicas:
            raise ConfigError(
                f"distributed.replicas ({self.replicas}) must divide distributed.world_size "
                f"({self.world_size}); each replica holds world_size / replicas shards"
            )
        if self.backend == "nccl" and self.launcher == "local" and not torch.cuda.is_available():
            raise ConfigError(
                "distributed.backend 'nccl' needs CUDA devices; use backend: gloo on CPU"
            )

    @property
    def shards(self) -> int:
        """Ranks per replica: the number of shards of the model."""
        return self.world_size // self.replicas


@dataclass(frozen=True)
class Ranks:
    """Where this rank sits: its mesh, device and coordinates (replica, shard)."""

    spec: DistributedSpec
    rank: int
    mesh: Any  # DeviceMesh (replicate, shard)
    device: torch.device

    @property
    def world_size(self) -> int:
        """Number of ranks in the job."""
        return self.spec.world_size

    @property
    def replica(self) -> int:
        """Index of this rank's replica group (data-parallel coordinate)."""
        return self.rank // self.spec.shards

    @property
    def shard(self) -> int:
        """Index of this rank's shard within its replica."""
        return self.rank % self.spec.shards

    @property
    def shard_group(self) -> Any:
        """The process group of this rank's replica (the ranks holding one model)."""
        return self.mesh.get_group("shard")

    @property
    def replica_group(self) -> Any:
        """The process group of the ranks holding this rank's shard in every replica."""
        return self.mesh.get_group("replicate")

    def all_reduce(
        self,
        tensor: torch.Tensor,
        group: Literal["shard", "replicate", "world"],
        op: Literal["sum", "max"] = "sum",
    ) -> None:
        """Sum (or max) ``tensor`` in place over ``group`` (a no-op on a group of one rank)."""
        handle = {"shard": self.shard_group, "replicate": self.replica_group, "world": None}[group]
        size = {"shard": self.spec.shards, "replicate": self.spec.replicas}.get(
            group, self.world_size
        )
        if size > 1:
            reduce_op = dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM
            if tensor.device == self.device:
                dist.all_reduce(tensor, op=reduce_op, group=handle)
                return
            # NCCL reduces device tensors only: host vectors (Lanczos, Hutch++) go there and back
            on_device = tensor.to(self.device)
            dist.all_reduce(on_device, op=reduce_op, group=handle)
            tensor.copy_(on_device)


def launch(fn: Callable[[Ranks, P], R], payload: P, spec: DistributedSpec) -> R:
    """Run the collective job ``fn(ranks, payload)`` on ``spec.world_size`` ranks; rank 0's result.

    Without a process group, spawns the ranks locally; under torchrun / Ray Train (a process
    group already initialised) the world must have ``spec.world_size`` ranks and this must be
    called on rank 0 while the others wait in :func:`serve`.

    Raises
    ------
    DistributedJobError
        A rank raised or was killed.
    ConfigError
        Under torchrun, a world size or backend that is not the config's.
    """
    if dist.is_initialized():
        _check_world(spec)
        job = pickle.dumps((fn, payload))
        dist.broadcast_object_list([(job, spec)], src=0, group=_control_group())
        value: R = _run_world_rank(job, spec)
        return value
    if spec.launcher == "ray":
        return _launch_on_ray(fn, payload, spec)
    with tempfile.TemporaryDirectory(prefix="axionlab-dist-") as tmp:
        result_file = Path(tmp) / "result.pkl"
        env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
        try:
            _spawn(
                _spawned_rank,
                # by value: torch's shared-memory reductions would hand the ranks one storage
                args=(pickle.dumps((fn, payload)), spec, env, str(result_file)),
                nprocs=spec.world_size,
                join=True,
                start_method="spawn",
            )
        except ProcessException as err:
            rank, reason = _first_failure(err, Path(tmp))
            raise DistributedJobError(f"rank {rank} of {spec.world_size} failed: {reason}") from err
        result: R = _load_result(result_file)
        return result


def serve() -> None:
    """On a non-zero rank under torchrun / Ray Train: run the jobs rank 0 broadcasts until it
    calls :func:`stop_serving`."""
    while True:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0, group=_control_group())
        if box[0] == _STOP:
            return
        job, spec = box[0]
        _run_world_rank(job, spec)


def stop_serving() -> None:
    """On rank 0 under torchrun / Ray Train: release the ranks waiting in :func:`serve`."""
    if dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() > 1:
        dist.broadcast_object_list([_STOP], src=0, group=_control_group())


def leave_world() -> None:
    """End this rank's part of a torchrun world: wait for every rank, then tear the process
    group down (a process exiting with gloo's threads still alive can abort in C++'s
    ``std::terminate``)."""
    if dist.is_initialized():
        dist.barrier(group=_control_group())
        _CONTROL.clear()
        dist.destroy_process_group()


def _run_world_rank(job: bytes, spec: DistributedSpec) -> Any:
    """One rank of a job in a torchrun world, on its own unpickled copy of the job (rank 0
    included: the caller's objects are never sharded or trained). A rank that fails cannot
    leave its peers inside a collective, so it reports one line and ends the process, and
    torchrun stops the world (resume redoes the phase)."""
    fn, payload = pickle.loads(job)  # our own rank 0's job
    try:
        with torch.random.fork_rng(devices=[]):
            return _run_rank(fn, payload, spec, dist.get_rank())
    except BaseException as err:
        print(
            f"error: rank {dist.get_rank()} of {spec.world_size} failed in a sharded phase: "
            f"{type(err).__name__}: {_message(err)}; resume the run with --resume",
            file=sys.stderr,
            flush=True,
        )
        os._exit(1)


_CONTROL: list[Any] = []


def release_freed_memory() -> None:
    """Make this process hand large freed blocks back to the OS (glibc; a no-op elsewhere).

    glibc raises its mmap threshold to the size of each large block freed, so after the whole
    model is built and sharded, later tensors of that size come from the heap, where a freed
    block stays resident below a live one: at world size 2, a GPT-2-small rank kept 0.6 GiB of
    freed full-size copies. Fixing the threshold at glibc's default (128 KiB) also ends that
    adjustment; every rank calls this before it unpickles or builds a model.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl has no mmap threshold)
        return
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _control_group() -> Any:
    """A gloo group over the world for the job broadcasts (an NCCL broadcast of a pickled job
    would copy it to a GPU on every rank)."""
    if not _CONTROL:
        _CONTROL.append(dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None)
    return _CONTROL[0]


def launched_by_torchrun() -> bool:
    """This process is one rank of a world started by torchrun (its environment variables)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"))


def init_from_environment() -> int:
    """Join the process group torchrun describes (backend ``AXIONLAB_BACKEND``, else nccl with
    CUDA, gloo without); returns this rank."""
    release_freed_memory()
    if not dist.is_initialized():
        default = "nccl" if torch.cuda.is_available() else "gloo"
        backend = os.environ.get("AXIONLAB_BACKEND", default)
        if backend == "nccl":  # one GPU per local rank, chosen before the first collective
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group(backend, timeout=_TIMEOUT)
    return dist.get_rank()


def shard_model(model: nn.Module, ranks: Ranks) -> nn.Module:
    """Shard ``model`` in place with FSDP2: each block of a layer stack, then what holds the rest.

    The FSDP2 recipe: every member of an ``nn.ModuleList``/``nn.Sequential`` that holds
    parameters (a transformer block, an MLP layer) becomes one unit; each child of the root that
    still holds parameters (embeddings, final norm, a head tied to the embedding) becomes one
    more, and the root holds none. That matters: FSDP2 leaves the root's parameters unsharded
    after a forward pass until a backward pass, so code reading ``model.parameters()`` after an
    evaluation would see (and an optimizer keep) tensors that are later freed. Parameters are
    split along dim 0 within the rank's replica (over the 2-D mesh: HSDP when ``replicas > 1``):
    each rank holds ``1/shards`` of every tensor, and a unit's full weights exist only while it
    runs. ``fully_shard`` moves each unit to the rank's device as it shards it, so a device never
    holds more than one unit unsharded (the host holds ``model`` whole until then).
    """
    from torch.distributed.fsdp import fully_shard

    at_root = [name for name, _ in model.named_parameters(recurse=False)]
    if at_root:
        # FSDP2 would keep them unsharded after an evaluation and ignore writes to their shards
        raise InputError(
            f"shard_model: the root module holds parameters {at_root[:3]} itself; move them into a "
            "submodule (e.g. an nn.ParameterDict child) so that they form an FSDP2 unit"
        )
    mesh = ranks.mesh if ranks.spec.replicas > 1 else ranks.mesh["shard"]
    counts: dict[int, int] = {}
    for m in model.modules():
        for p in m.parameters(recurse=False):
            counts[id(p)] = counts.get(id(p), 0) + 1
    # plan first: fully_shard replaces a unit's parameters, so their ids change as it goes
    covered: set[int] = set()
    units = []
    stacks = [m for m in model.modules() if isinstance(m, nn.ModuleList | nn.Sequential)]
    for block in [b for stack in stacks for b in stack] + list(model.children()):
        own = [p for p in block.parameters() if id(p) not in covered]
        shared = block not in model.children() and any(counts[id(p)] > 1 for p in own)
        if own and not shared:
            units.append(block)
            covered.update(id(p) for p in own)
    for unit in units:
        fully_shard(unit, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _check_world(spec: DistributedSpec) -> None:
    world, backend = dist.get_world_size(), dist.get_backend()
    if world != spec.world_size:
        raise ConfigError(
            f"distributed.world_size is {spec.world_size} but this job was launched with "
            f"{world} ranks; set it to {world} or launch {spec.world_size} ranks"
        )
    if backend != spec.backend:
        raise ConfigError(
            f"distributed.backend is '{spec.backend}' but the process group uses '{backend}'; "
            f"set AXIONLAB_BACKEND={spec.backend} or the config to '{backend}'"
        )


def _spawned_rank(
    rank: int, job: bytes, spec: DistributedSpec, env: dict[str, str], result_file: str
) -> None:
    release_freed_memory()
    fn, payload = pickle.loads(job)  # our own driver's job
    os.environ.update(env)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // spec.world_size))
    dist.init_process_group(spec.backend, rank=rank, world_size=spec.world_size, timeout=_TIMEOUT)
    try:
        try:
            result = _run_rank(fn, payload, spec, rank)
        except BaseException as err:
            note = Path(result_file).with_name(f"error.{rank}")
            partial = note.with_suffix(".partial")
            partial.write_text(f"{time.time()} {type(err).__name__}: {_message(err)}")
            partial.replace(note)
            raise
        if rank == 0:
            partial = Path(result_file + ".partial")
            with partial.open("wb") as f:
                pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
            partial.replace(result_file)
        # leave together: a rank whose peers closed their gloo pairs while it was still
        # writing can abort in std::terminate (SIGABRT, seen once in CI with 4 ranks)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _run_rank(fn: Callable[[Ranks, P], R], payload: P, spec: DistributedSpec, rank: int) -> R:
    from torch.distributed.device_mesh import init_device_mesh

    if spec.backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count()))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    mesh = init_device_mesh(
        device.type, (spec.replicas, spec.shards), mesh_dim_names=("replicate", "shard")
    )
    return fn(Ranks(spec, rank, mesh, device), payload)


def _launch_on_ray(fn: Callable[[Ranks, P], R], payload: P, spec: DistributedSpec) -> R:
    """Run the job as a Ray Train ``TorchTrainer`` (Ray sets up the process group); rank 0's
    result comes back as the trainer's checkpoint, under ``AXIONLAB_RAY_STORAGE`` (a path every
    node can reach; default a local temporary directory, enough for a one-node cluster)."""
    try:
        import ray
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchConfig, TorchTrainer
    except ImportError:
        raise ConfigError(
            "distributed.launcher 'ray' needs the ray package; pip install 'axionlab[ray]'"
        ) from None
    if not ray.is_initialized():
        ray.init(address=spec.address, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="axionlab-ray-") as tmp:
        trainer = TorchTrainer(
            _ray_rank,
            train_loop_config={"job": pickle.dumps((fn, payload, spec))},
            torch_config=TorchConfig(backend=spec.backend),
            scaling_config=ScalingConfig(
                num_workers=spec.world_size, use_gpu=spec.backend == "nccl"
            ),
            run_config=RunConfig(
                storage_path=os.environ.get("AXIONLAB_RAY_STORAGE", tmp), name="axionlab-job"
            ),
        )
        try:
            result = trainer.fit()
        except Exception as err:  # Ray wraps a worker's failure in its own error types
            raise DistributedJobError(
                f"a rank of {spec.world_size} on Ray failed: {_message(err)}"
            ) from err
        if result.checkpoint is None:
            raise DistributedJobError("the Ray job ended without rank 0's result")
        with result.checkpoint.as_directory() as directory:
            value: R = _load_result(Path(directory) / "result.pkl")
        return value


def _ray_rank(config: dict[str, bytes]) -> None:
    import ray.train
    from ray.train import Checkpoint

    release_freed_memory()
    fn, payload, spec = pickle.loads(config["job"])  # our own driver's job
    result = _run_rank(fn, payload, spec, dist.get_rank())
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = None
        if dist.get_rank() == 0:
            with (Path(directory) / "result.pkl").open("wb") as f:
                pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
            checkpoint = Checkpoint.from_directory(directory)
        ray.train.report({"rank0_result": 1}, checkpoint=checkpoint)  # every rank, once


_RESULT_GLOBALS = {
    ("copyreg", "_reconstructor"),
    ("copyreg", "__newobj__"),
    ("builtins", "object"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _ResultUnpickler(pickle.Unpickler):
    """Results hold data only: axionlab's result classes, NumPy arrays and builtin containers.

    A result file crosses a directory other processes can write (a Ray storage path may be
    shared), so unpickling it may build those classes and call nothing else: no function, no
    torch storage (whose loader would unpickle again without restriction)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _RESULT_GLOBALS or module.startswith("numpy.dtypes"):
            return super().find_class(module, name)
        if module.startswith("axionlab."):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(
            f"a collective job's result may hold axionlab result classes, NumPy arrays and "
            f"builtin containers only, not {module}.{name} (return arrays, not tensors)"
        )


def _load_result(path: Path) -> Any:
    with path.open("rb") as f:
        return _ResultUnpickler(f).load()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _message(err: BaseException) -> str:
    """The first line of an exception's own message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _first_failure(err: ProcessException, notes: Path) -> tuple[int, str]:
    """The rank that failed first and why. A rank that raised left a note; a peer whose
    collective it broke may raise later, so the earliest note wins. A rank killed (signal,
    ``os._exit``) leaves none, and then it is the one torch names."""
    if isinstance(err, ProcessExitedException):
        return err.error_index, _message(err)
    failures = []
    for note in notes.glob("error.*"):
        stamp, _, reason = note.read_text().partition(" ")
        try:
            failures.append((float(stamp), int(note.suffix[1:]), reason))
        except ValueError:
            continue
    if not failures:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        return err.error_index, lines[-1] if lines else type(err).__name__  # its traceback
    _, rank, reason = min(failures)
    return rank, reason
