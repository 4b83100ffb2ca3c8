# Two entry points on a fresh machine: `make demo` and `make test`. Each builds .venv if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,nn]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scalinglab demo --out scalinglab-demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_random_features.py

clean:
	rm -rf $(VENV) scalinglab-demo .pytest_cache
