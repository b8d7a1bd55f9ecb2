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

.PHONY: setup demo test test-full lint format bench up down clean

setup:
	@bash scripts/setup_venv.sh
	@bash scripts/setup_system.sh

demo: setup
	$(PY) -m flows.main --out $(DEMO_OUT)

test: setup
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

test-full: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	@for b in benchmarks/*.py; do case $$b in */_*) continue;; esac; echo "== $$b"; $(PY) $$b --quick || exit 1; done

up: setup
	@bash infra/s3_server.sh start
	@bash infra/prefect_server.sh start

down:
	-@bash infra/prefect_server.sh stop
	-@bash infra/s3_server.sh stop

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .ruff_cache
