# Set-up is idempotent: the install reruns only when pyproject.toml or constraints.txt change (torch alone is several GB).
# constraints.txt pins the exact versions CI tested (reproducible installs); `make upgrade` moves them forward.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/swin.yaml
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup upgrade constraints train test lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# newest versions within pyproject.toml's bounds, then constraints.txt rewritten from what got installed
upgrade:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --upgrade --upgrade-strategy eager -e '.[dev]'
	$(MAKE) constraints
	touch $(STAMP)

# constraints.txt from the packages installed now (every requirement of pyproject.toml, transitively)
constraints:
	$(BIN)/python scripts/freeze_constraints.py --output constraints.txt

train: setup
	$(BIN)/lit-vision fit --config $(CONFIG) $(ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) lightning_logs wandb .pytest_cache
