# The one task entry point. Needs only Python (3.11+) and pip: uv is installed if missing,
# and uv always uses this machine's Python (it never downloads an interpreter).
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
RUN := $(UV) run --frozen --no-sync
SYNC := $(UV) sync --frozen --all-packages --all-extras --group dev --group bench
PYTEST_ARGS ?=
# Test folders that hold Python files (mypy refuses an empty folder).
TEST_ROOTS = $(foreach d,$(wildcard packages/*/tests apps/*/tests tests),$(if $(shell find $(d) -name '*.py' | head -1),$(d)))

.PHONY: help uv sync demo test test-deep check bench eval clean

help:
	@echo "make demo       run the demo"
	@echo "make test       make check, then the whole suite on every supported Python found"
	@echo "make test-deep  the test suite with the deep Hypothesis profile (slow)"
	@echo "make check      ruff, mypy --strict, import-linter"
	@echo "make bench      benchmarks, each figure printed beside its baseline"
	@echo "make eval       retrieval eval (hit@1, hit@5, MRR per mode), then the ask answer table (needs a corpus)"

uv:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check uv

sync: uv
	@$(SYNC) --quiet

demo: sync
	$(RUN) funcpipe-rag demo

check: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy packages/*/src apps/*/src $(TEST_ROOTS) bench docs/examples
	$(RUN) lint-imports --config importlinter.ini
	$(RUN) scripts/verifytypes

# Every supported CPython found (3.11 always; 3.12, 3.13 where found), each in its own venv.
# TEST_PYTHONS="3.11" narrows it.
test: check
	UV="$(UV)" scripts/test-pythons $(PYTEST_ARGS)

test-deep: sync
	$(RUN) pytest -q --hypothesis-profile=deep $(PYTEST_ARGS)

bench: uv
	@$(SYNC) --quiet
	$(RUN) python bench/run.py $(BENCH_ARGS)

# The corpus defaults to Debian's python3.11-doc; EVAL_ARGS="--corpus DIR" names another.
eval: sync
	$(RUN) python bench/eval_retrieval.py $(EVAL_ARGS)
	$(RUN) python bench/eval_answer.py $(EVAL_ARGS)

clean:
	rm -rf .venv .venv-3.* .mypy_cache .ruff_cache .pytest_cache .hypothesis .funcpipe
