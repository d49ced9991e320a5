# Everyday checks; .ci/run runs the same ones on a clean checkout.
PY ?= .venv/bin/python

.PHONY: lint type test test-all

lint:  ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

type:  ## mypy on the whole package (settings in pyproject.toml)
	$(PY) -m mypy

test:  ## the everyday suite: everything but the tests marked slow, in parallel
	$(PY) -m pytest -q -m "not slow" -n auto

test-all:  ## the whole suite, as CI runs it
	$(PY) -m pytest -q -n auto
