# Two commands on a fresh machine: `make run` (the main sweep, offline) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch, installed first: the project asks only torch>=2.4, so pip keeps it (no CUDA build).
TORCH ?= torch==2.13.0

.PHONY: install run test lint bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) run.py -m smoothing=ls,gls task=ner

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench: install
	$(PY) benchmarks/bench_smoothing.py
	$(PY) benchmarks/bench_qa_postprocess.py
	$(PY) benchmarks/bench_padding.py
	$(PY) benchmarks/bench_train_throughput.py
