# Ledgerlink: `make run` (demo) and `make test` (whole suite). Only python3 and make are needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/ledgerlink

.PHONY: venv run test test-sqlite test-postgres bench chaos lint demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: venv
	$(VENV)/bin/ledgerlink run-demo

test: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest -n 2 --dist loadgroup --ignore=tests/chaos
	@if [ -n "$$LEDGERLINK_REQUIRE_POSTGRES" ] || $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_URL)'.rsplit('/',1)[0]+'/postgres', connect_timeout=2).close()" 2>/dev/null; then \
		echo "== PostgreSQL run =="; \
		DATABASE_URL=$(PG_URL) $(PY) -m pytest -n 2 --dist loadgroup tests/ledgerlink; \
	else echo "PostgreSQL not reachable: PostgreSQL run skipped (set LEDGERLINK_REQUIRE_POSTGRES=1 to require it)"; fi

bench: venv
	$(PY) -m ledgerlink.bench

chaos: venv
	$(PY) -m pytest tests/chaos -m slow

lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports --no-logo

clean:
	rm -rf $(VENV) ledgerlink.sqlite3*
