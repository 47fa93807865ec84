# Two commands: `make demo` and `make test`. Each sets itself up on a fresh machine: it creates
# .venv if missing, installs torch by its pinned version first (a looser spec pulls GBs of CUDA
# wheels), then everything else under constraints.txt, then acts.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0
STAMP := $(VENV)/.axionlab-installed
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,clearml,mlflow,ray,hf]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/axionlab run configs/exp01/quick.yaml

test: setup
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
