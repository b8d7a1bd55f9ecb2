# Two commands do all the set-up on a fresh clone:
#   make demo   - create .venv if missing, install everything, run the main job on studio data
#   make test   - same set-up, then the test suite
VENV    ?= .venv
PY      := $(VENV)/bin/python
DEMO_OUT ?= data/demo
PYTEST_ARGS ?=

export PREFECT_SERVER_ANALYTICS_ENABLED = false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 90
export PREFECT_LOGGING_EXTRA_LOGGERS = dpt_core

# The CPU kernels of an AVX2-only and of a baseline x86-64 CPU, on any x86-64 machine: torch's
# own kernels, oneDNN's (convolutions) and MKL's (BLAS) each capped.
KERNELS_AVX2    = ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
KERNELS_DEFAULT = ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2

.PHONY: setup demo test test-determinism test-full lint format bench up down clean

setup:
	@bash scripts/setup_venv.sh
	@bash scripts/setup_system.sh

demo: setup
	$(PY) -m flows.main --out $(DEMO_OUT)

test: setup
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

# The determinism-sensitive tests again on those kernels (README, Reliability). pytest exits 5
# when the marker selects nothing, and make stops on it.
test-determinism: setup
	env $(KERNELS_AVX2) $(VENV)/bin/pytest -m "determinism and not slow" $(PYTEST_ARGS)
	env $(KERNELS_DEFAULT) $(VENV)/bin/pytest -m "determinism and not slow" $(PYTEST_ARGS)

test-full: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	@for b in benchmarks/*.py; do case $$b in */_*) continue;; esac; \
	  if ! grep -q -- '"--quick"' $$b; then echo "== $$b: skipped (a probe of existing runs; see its docstring)"; continue; fi; \
	  echo "== $$b"; $(PY) $$b --quick || exit 1; done

up: setup
	@bash infra/s3_server.sh start
	@bash infra/prefect_server.sh start

down:
	-@bash infra/prefect_server.sh stop
	-@bash infra/s3_server.sh stop

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .ruff_cache
