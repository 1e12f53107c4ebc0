# The two commands of the README: `make run` and `make test`. Both build a private virtualenv
# in .venv from pyproject.toml, so a fresh machine needs only Python 3.11 and the package index.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench bench-ingest bench-triage bench-mail bench-claims demo clean

$(BIN)/python:
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH (or make PY=python3)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/deskgate serve --demo $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/deskgate demo $(ARGS)

bench: bench-ingest bench-triage bench-mail bench-claims

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py $(ARGS)

bench-triage: $(STAMP)
	$(BIN)/python bench/triage.py $(ARGS)

bench-mail: $(STAMP)
	$(BIN)/python bench/mail.py $(ARGS)

bench-claims: $(STAMP)
	$(BIN)/python bench/claims.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
