# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/development.ini
LOADTEST_ARGS ?=

.PHONY: serve test test-unit lint install migrate loadtest loadtest-smoke ceilings staging staging-test staging-failover-test staging-down clean

# Serving needs only the package; the tests and benchmarks need the extras too.
$(VENV)/.serve: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.test: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,loadtest]'
	touch $(VENV)/.serve $@

# weave-minimal (a Sync 1.1 server accounts are imported from) for the import tests, in a
# virtualenv of its own: it needs werkzeug 0.16, the load tests' Flask needs werkzeug 2+.
# Where it cannot be installed its tests skip (CI requires them).
$(VENV)/weave-minimal/.installed: $(VENV)/.test
	$(PYTHON) -m venv $(VENV)/weave-minimal && \
	$(VENV)/weave-minimal/bin/python -m pip install --quiet --disable-pip-version-check \
		'weave-minimal==1.5.1' 'werkzeug==0.16.1' 'setuptools<81' && touch $@ || \
	echo "weave-minimal could not be installed: its import tests will skip"

# mysqlclient (the C MariaDB driver, setup.py's extra) compiles against MariaDB's client library
# (Debian: libmariadb-dev, pkg-config).  Where it cannot be installed its tests skip (CI requires them).
$(VENV)/.mysqlclient: $(VENV)/.test
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[mysqlclient]' && touch $@ || \
	echo "mysqlclient could not be installed (apt-get install libmariadb-dev pkg-config): its tests will skip"

install: $(VENV)/.test $(VENV)/.mysqlclient $(VENV)/weave-minimal/.installed

migrate: $(VENV)/.serve
	$(BIN)/syncstorage --config $(CONFIG) migrate

## serve: install, migrate the embedded SQLite database and serve on 127.0.0.1:$${PORT:-8000}
serve: migrate
	$(BIN)/syncstorage --config $(CONFIG) serve

## test: install and run the whole test suite
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## loadtest: a ~2 minute step-load test on loopback; results in loadtest/results/<timestamp>/
loadtest: install
	$(BIN)/python -m loadtest.run $(LOADTEST_ARGS)

## loadtest-smoke: the same, tiny and short (CI)
loadtest-smoke: install
	$(BIN)/python -m loadtest.run --accounts 20 --step-start 2 --step-count 2 --step-seconds 8 \
		--ceilings-seconds 1 --label smoke $(LOADTEST_ARGS)

## ceilings: wrk ceilings against MariaDB (python -m loadtest.ceilings --help)
ceilings: install
	$(BIN)/python -m loadtest.ceilings $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) var *.egg-info

## staging: a local cluster (nginx, user API, 2 storage nodes, node1's database a replicated pair, MariaDB,
## memcached) on 127.0.0.1:18100-18102
staging: install
	$(BIN)/python -m loadtest.staging up

## staging-test: the end-to-end check through nginx, then tear the cluster down (always)
staging-test: install
	$(BIN)/python -m loadtest.staging check; rc=$$?; $(BIN)/python -m loadtest.staging down; exit $$rc

## staging-failover-test: a cluster of its own (.staging-failover, ports 18200-), node1's primary database
## killed under 10 clients and failed over as docs/runbook.md says, every acknowledged write checked; torn down
staging-failover-test: install
	export STAGING_DIR=.staging-failover STAGING_BASE_PORT=18200; $(BIN)/python -m loadtest.staging up && \
	{ $(BIN)/python -m loadtest.staging failover; rc=$$?; $(BIN)/python -m loadtest.staging down; exit $$rc; }

## staging-down: stop the staging cluster
staging-down:
	$(BIN)/python -m loadtest.staging down

## test-unit: the tests that need no MariaDB, memcached, nginx or server process (about a minute)
test-unit: install
	SYNCSTORAGE_UNIT_ONLY=1 $(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS)

## lint: the import rules between the package's layers (setup.cfg [importlinter])
lint: install
	$(BIN)/lint-imports
