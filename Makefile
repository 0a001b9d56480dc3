# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/development.ini

.PHONY: serve test install migrate clean

$(BIN)/syncstorage: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(BIN)/syncstorage

migrate: install
	$(BIN)/syncstorage --config $(CONFIG) migrate

## serve: install, migrate the embedded SQLite database and serve on 127.0.0.1:$${PORT:-8000}
serve: migrate
	$(BIN)/syncstorage --config $(CONFIG) serve

## test: install and run the whole test suite
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var *.egg-info
