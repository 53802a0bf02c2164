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

# Matching and synthetic-control reference tests, re-run under other OpenBLAS kernels so a
# result that depends on the BLAS kernel (near-ties, optimiser paths) fails here rather than
# on a user's machine. Prescott (SSE3) runs on every x86-64 CPU; Haswell is the AVX2 kernel
# OpenBLAS picks on most current Intel and AMD machines.
KERNEL_TESTS := tests/matching/test_nearest_reference.py tests/matching/test_nn_ties.py \
	tests/matching/test_weighting_reference.py tests/synth/test_control_reference.py \
	tests/synth/test_sdid_reference.py tests/synth/test_exact_fit_ratio.py \
	tests/synth/test_control_inference.py
KERNELS ?= Haswell Prescott
# pytest processes (pytest-xdist): 2 on the 2-core CI machine (8.6 min instead of 13.5 serial);
# PYTEST_WORKERS=0 runs the suite in one process
PYTEST_WORKERS ?= 2

.PHONY: demo test test-kernels lint typecheck pytest clean docs

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test,dask]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/impacteval demo

test: $(BIN)/.installed
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy impacteval
	$(BIN)/python scripts/check_structure.py
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --durations=15
	$(MAKE) test-kernels

test-kernels: $(BIN)/.installed
	@for k in $(KERNELS); do \
		echo "== reference tests under OPENBLAS_CORETYPE=$$k"; \
		OPENBLAS_CORETYPE=$$k $(BIN)/python -m pytest -q -p no:cacheprovider $(KERNEL_TESTS) \
			|| exit 1; \
	done
ifneq ($(OPENBLAS_CORETYPE),)
	@echo "== reference tests under the machine's own kernel (OPENBLAS_CORETYPE unset)"
	env -u OPENBLAS_CORETYPE $(BIN)/python -m pytest -q -p no:cacheprovider $(KERNEL_TESTS)
endif

# The documentation site (docs/README.md): built into docs/_build/html, warnings as errors;
# notebooks are executed (outputs cached in docs/_build/.jupyter_cache by their code).
docs: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[docs]'
	$(BIN)/python -m sphinx -b html -W --keep-going -j 2 docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
