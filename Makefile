# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint bench

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject.toml: pip takes the local CPU wheel, never a CUDA build.
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: venv
	$(BIN)/pixelwise seismic demo --output-dir runs/seismic-demo

lint: venv
	$(BIN)/ruff check src tests bench

test: lint
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python bench/n2v_vs_careamics.py
	$(BIN)/python bench/nodes.py
