# The two commands: `make run` (set up and start web + worker) and `make test` (ruff + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := DEBUG=1 $(BIN)/python manage.py

.PHONY: run test demo install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(MANAGE) migrate --noinput
	$(MANAGE) bootstrap --url "http://$${HOST:-127.0.0.1}:$${PORT:-8000}/"
	DEBUG=1 VENV=$(VENV) bash bin/dev

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	@test -n "$(PHOTOS)" || { echo "usage: make demo PHOTOS=/path/to/a/folder/of/photos"; exit 2; }
	$(MANAGE) migrate --noinput
	$(MANAGE) bootstrap
	$(MANAGE) demo "$(PHOTOS)"
