# The two newcomer commands: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data)
# Repository-sourced datasets are read from ../shared/data when it exists (no network).
ifneq ($(wildcard $(SHARED_DATA)/.),)
export IMPACTEVAL_DATA_DIR ?= $(SHARED_DATA)
endif
export MPLBACKEND := Agg
LINT_PATHS := $(wildcard impacteval tests scripts benchmarks)

.PHONY: demo test lint typecheck pytest clean docs

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/impacteval demo

test: $(BIN)/.installed
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy impacteval
	$(BIN)/python -m pytest -q

# The documentation site (docs/README.md): built into docs/_build/html, warnings as errors;
# notebooks are executed (outputs cached in docs/_build/.jupyter_cache by their code).
docs: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[docs]'
	$(BIN)/python -m sphinx -b html -W --keep-going -j 2 docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
