"""Fixtures shared by the protocol tests."""

from __future__ import annotations

import pytest

from axionlab.protocols.runner import execute, load_config
from axionlab.runs import Run


@pytest.fixture(scope="module")
def smoke_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One run of the test module's ``SMOKE`` config, shared by the tests of that module."""
    return execute(load_config(request.module.SMOKE), runs_dir=tmp_path_factory.mktemp("runs"))
