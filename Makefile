# `make run` and `make test` create the virtual environment on first use.
VENV  ?= .venv
PY    := $(VENV)/bin/python
# The CPU build of PyTorch; override for CUDA, e.g. `make TORCH=torch run`.
TORCH ?= torch==2.13.0

.PHONY: run test lint bench clean-venv

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,box2d,sweeps]"
	touch $@

run: $(VENV)/.installed  ## train DQN on CartPole-v1 with the tuned preset
	$(PY) -m rl_lab agent=dqn env=CartPole-v1

# one test worker per core (at most 4: each worker holds its own torch); `pytest -q` runs serially
test: $(VENV)/.installed  ## the default (fast) test suite
	$(PY) -m pytest -q -n auto --maxprocesses 4

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy rl_lab

clean-venv:
	rm -rf $(VENV)
