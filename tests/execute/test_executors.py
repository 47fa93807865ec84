import os

import pytest

from axionlab.errors import ConfigError, UnknownNameError
from axionlab.execute import InProcessExecutor, ProcessPoolExecutor, make_executor


def square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_in_process_preserves_order():
    assert InProcessExecutor().map(lambda x: x + 1, [3, 1, 2]) == [4, 2, 3]


def test_process_pool_matches_in_process_and_uses_workers():
    results = ProcessPoolExecutor(workers=2).map(square_and_pid, range(6))
    assert [r[0] for r in results] == [x * x for x in range(6)]
    assert os.getpid() not in {r[1] for r in results}


def exit_worker(x: int) -> int:
    os._exit(3)


def test_process_pool_keeps_workers_between_calls_until_closed():
    with ProcessPoolExecutor(workers=2) as executor:
        first = {pid for _, pid in executor.map(square_and_pid, range(8))}
        second = {pid for _, pid in executor.map(square_and_pid, range(8))}
        assert second <= first  # the same processes did the second call
        executor.close()
        third = {pid for _, pid in executor.map(square_and_pid, range(8))}
        assert not third & first
    assert executor._pool is None


def test_process_pool_recovers_after_a_worker_dies():
    import concurrent.futures.process

    with ProcessPoolExecutor(workers=2) as executor:
        with pytest.raises(concurrent.futures.process.BrokenProcessPool):
            executor.map(exit_worker, range(2))
        assert [r[0] for r in executor.map(square_and_pid, range(3))] == [0, 1, 4]


def test_factory_errors():
    assert isinstance(make_executor("inprocess"), InProcessExecutor)
    with pytest.raises(UnknownNameError, match="Did you mean 'process'"):
        make_executor("proces")
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        ProcessPoolExecutor(workers=0)


@pytest.mark.slow
def test_ray_executor_matches_in_process():
    ray = pytest.importorskip("ray")
    from axionlab.execute import RayExecutor

    try:
        results = RayExecutor(cpus_per_task=1).map(square_and_pid, range(5))
    finally:
        ray.shutdown()
    assert [r[0] for r in results] == [x * x for x in range(5)]
    assert os.getpid() not in {r[1] for r in results}


_HELPERS = """
import os, time
from pathlib import Path

def report_and_sleep(folder):
    Path(folder, str(os.getpid())).write_text("started")
    time.sleep(120)
"""

_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
import helpers
from axionlab.execute import ProcessPoolExecutor
executor = ProcessPoolExecutor(workers=2)
executor.death_signal = sys.argv[2] == "1"
executor.map(helpers.report_and_sleep, [sys.argv[1]] * 2)
"""


def _alive(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # an unreaped zombie has exited


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
@pytest.mark.parametrize("death_signal", [True, False], ids=["pdeathsig", "watchdog"])
def test_workers_exit_soon_after_the_driver_is_killed(tmp_path, death_signal):
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "helpers.py").write_text(_HELPERS)
    driver = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(tmp_path), "1" if death_signal else "0"]
    )
    try:
        deadline = time.monotonic() + 120
        while len(workers := [int(p.name) for p in tmp_path.glob("[0-9]*")]) < 2:
            assert time.monotonic() < deadline and driver.poll() is None, "workers never started"
            time.sleep(0.1)
        assert all(_alive(pid) for pid in workers)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their driver"
    finally:
        driver.kill()
        for pid in [int(p.name) for p in tmp_path.glob("[0-9]*")]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
