# NovaTime quality targets. Services: DATABASE_URL / REDIS_URL from the
# environment (scripts/test finds or starts them); every target runs pytest
# with the test settings on a throwaway test database.
#   make test       the whole suite with coverage (= scripts/test, = .ci/run)
#   make all        lint + typecheck + test + fuzz + load-short (what CI proves, longer fuzz)
#   make run-smoke  the README's run command from a fresh clone, both modes (~5 min)
PY        ?= .venv/bin/python
PYTEST    ?= $(PY) -m pytest -p no:cacheprovider
FUZZ_EXAMPLES ?= 25
FUZZ_SECONDS  ?= 900
LOAD_SECONDS  ?= 600
LOAD_TENANTS  ?= 4
LOAD_MEMBERS  ?= 10
LOAD_WORKERS  ?= 2

.PHONY: test lint typecheck migrations-check isolation fuzz contract run-smoke load-short load-long bench all

test:
	scripts/test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy

migrations-check:
	$(PY) manage.py makemigrations --check --dry-run --no-input

# Tenant isolation matrix: every endpoint x method x attack, plus sockets and Celery.
isolation:
	$(PYTEST) --no-cov tests/isolation tests/test_websocket.py tests/test_celery.py

# Long fuzzing (CI runs bounded versions of both): schemathesis on the
# organization host, then the hostile-input walk over both hosts' OpenAPI
# schemas with every hostile value in every parameter on its own (tests/fuzz/).
fuzz:
	NOVATIME_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) NOVATIME_FUZZ_SECONDS=$(FUZZ_SECONDS) \
		$(PYTEST) --no-cov tests/test_openapi.py -k schemathesis
	NOVATIME_HOSTILE_FULL=1 $(PYTEST) --no-cov tests/fuzz

# API.md flows end to end over real HTTP/WebSocket.
contract:
	$(PYTEST) --no-cov tests/contract/test_api_flow.py

# scripts/run from a fresh git clone of HEAD: services from DATABASE_URL/REDIS_URL
# (a dedicated database; Redis db NOVATIME_RUN_SMOKE_REDIS_DB, default 15), then embedded.
run-smoke:
	$(PYTEST) --no-cov tests/test_run_command.py

load-short:
	NOVATIME_LOAD_SECONDS=30 $(PYTEST) --no-cov tests/contract/test_load.py

# 10-minute soak; figures go to docs/benchmarks/load.md.
load-long:
	NOVATIME_LOAD_SECONDS=$(LOAD_SECONDS) NOVATIME_LOAD_TENANTS=$(LOAD_TENANTS) \
		NOVATIME_LOAD_MEMBERS_PER_TENANT=$(LOAD_MEMBERS) NOVATIME_LOAD_WORKERS=$(LOAD_WORKERS) \
		NOVATIME_LOAD_REPORT=docs/benchmarks/load.md \
		NOVATIME_LOAD_COMMAND="make load-long LOAD_SECONDS=$(LOAD_SECONDS) LOAD_TENANTS=$(LOAD_TENANTS) LOAD_MEMBERS=$(LOAD_MEMBERS) LOAD_WORKERS=$(LOAD_WORKERS)" \
		$(PYTEST) --no-cov tests/contract/test_load.py

# Benchmarks (figures in docs/BENCHMARKS.md and docs/benchmarks/).
bench:
	for b in bench/*.py; do \
		case $$b in */__init__.py|*/common.py) continue;; esac; \
		$(PY) -m bench.$$(basename $$b .py) || exit 1; \
	done

all: lint typecheck test fuzz load-short
