"""Command line: ``axionlab run | check | ls | report``. Thin over :mod:`axionlab.protocols`.

User mistakes print one ``error:`` line on stderr and exit 2 (``--debug`` shows the traceback);
anything else is a bug and raises with its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from axionlab.errors import UserError

if TYPE_CHECKING:
    from axionlab.config import RunConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="axionlab", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks for all errors")
    sub = parser.add_subparsers(dest="command", required=True)

    def config_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", help="YAML config, e.g. configs/exp01/quick.yaml")
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="K=V",
            help="override a config value (repeatable), e.g. --set train.lr=0.05",
        )

    run = sub.add_parser("run", help="run a protocol; prints the run directory last")
    config_args(run)
    run.add_argument("--runs-dir", default="runs", help="root of the run store (default: runs)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")

    check = sub.add_parser(
        "check",
        help="validate a config and its inputs as 'run' would, then print it resolved",
    )
    config_args(check)
    check.add_argument(
        "--no-inputs",
        action="store_true",
        help="validate the config alone, without reading datasets or building models "
        "(e.g. on a machine without the data)",
    )

    ls = sub.add_parser("ls", help="list runs and their status")
    ls.add_argument("--runs-dir", default="runs")
    ls.add_argument("--rebuild", action="store_true", help="rebuild the index from the manifests")

    report = sub.add_parser("report", help="rebuild a run's report from its stored results")
    report.add_argument("run_dir")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    from axionlab.config import dump_yaml
    from axionlab.protocols.runner import execute, load_config, rebuild_report

    if args.command == "check":
        config = load_config(args.config, args.overrides)
        if not args.no_inputs:
            _preflight(config)
        print(dump_yaml(config), end="")
    elif args.command == "run":
        config = load_config(args.config, args.overrides)
        if _serving_rank(config):
            return 0
        try:
            run = execute(config, runs_dir=args.runs_dir, resume=args.resume)
        finally:
            _release_ranks()
        report = run.path / "report" / "report.html"
        if report.is_file():
            print(f"report: {report}")
        print(run.path)
    elif args.command == "ls":
        _list_runs(Path(args.runs_dir), args.rebuild)
    elif args.command == "report":
        print(rebuild_report(args.run_dir))
    return 0


def _serving_rank(config: RunConfig) -> bool:
    """Under torchrun, join its world; a non-zero rank serves rank 0's collective jobs (the
    sharded phases) until rank 0 is done, and only rank 0 runs the protocol and writes."""
    from axionlab.errors import ConfigError
    from axionlab.execute.distributed import (
        init_from_environment,
        launched_by_torchrun,
        leave_world,
        serve,
    )

    if not launched_by_torchrun():
        return False
    if config.executor.kind != "inprocess":
        # units in worker processes would run outside the torchrun world
        raise ConfigError(
            f"executor.kind '{config.executor.kind}' under torchrun: the sharded phases need the "
            "torchrun world, so set executor.kind: inprocess (--set executor.kind=inprocess)"
        )
    if init_from_environment() == 0:
        return False
    serve()
    leave_world()
    return True


def _release_ranks() -> None:
    from axionlab.execute.distributed import launched_by_torchrun, leave_world, stop_serving

    if launched_by_torchrun():
        stop_serving()
        leave_world()


def _preflight(config: RunConfig) -> None:
    """Everything ``run`` checks before its run directory exists, plus the unit ids it plans."""
    from axionlab.protocols.runner import planned_units, protocol_for

    protocol = protocol_for(config)
    protocol.check_inputs(config)
    planned_units(protocol, config)


def _list_runs(root: Path, rebuild: bool) -> None:
    from axionlab.runs import RunIndex, rebuild_index

    if not root.is_dir():
        raise UserError(f"runs directory {root} does not exist; pass --runs-dir or start a run")
    index = rebuild_index(root) if rebuild else RunIndex(root)
    rows = index.runs()
    if not rows:
        print(f"no runs under {root}")
        return
    print(f"{'status':<9} {'protocol':<10} {'units':>5} {'phases':>6}  run")
    for row in rows:
        print(
            f"{row['status']:<9} {row['protocol']:<10} {row['units']:>5} "
            f"{row['phases_complete'] or 0:>6}  {row['run_dir']}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UserError as err:
        if args.debug:
            raise
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; continue with --resume RUN_DIR", file=sys.stderr)
        return 130


def one_line(err: BaseException) -> str:
    """``err``'s message on one line (a message a library joined from several lines)."""
    text = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
    return text or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
