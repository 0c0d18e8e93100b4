# Set-up is idempotent: the install reruns only when pyproject.toml changes (torch alone is several GB).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/swin.yaml
PYTEST_ARGS ?=

.PHONY: setup train test lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

train: setup
	$(BIN)/lit-vision fit --config $(CONFIG)

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
