# The two commands a newcomer needs: `make demo` runs the embedded server, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests run against real PostgreSQL and Redis; override to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/redmist
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install demo test bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py demo_setup
	$(PY) manage.py demo --host $(HOST) --port $(PORT)

test: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-only-secret-key-for-the-suite-0123456789 \
		$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/engine_replay.py

clean:
	rm -rf var/
