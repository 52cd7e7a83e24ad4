# Two commands set everything up: `make demo` (the main job) and `make test`.
# Each creates .venv on first use. torch is installed first, pinned, so that pip takes the
# local CPU wheel instead of a multi-GB CUDA build; pyproject keeps torch>=2.3 for other machines.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,interop]'  # interop: TorchRL, Minari, RL Zoo (tests/test_interop.py)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m agents.demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
