# The two commands of the README: `make run` and `make test`. Both build a private virtualenv
# in .venv from pyproject.toml, so a fresh machine needs only Python 3.11 and the package index.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test install bench bench-ingest bench-triage bench-mail bench-claims bench-webhooks \
	bench-retrain bench-risk demo clean

$(BIN)/python:
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
	  { echo "Deskgate needs Python 3.11: install it, or run make PY=/path/to/python3.11"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing Deskgate into $(VENV) (first run takes a few minutes) …"
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing Deskgate and its test tools into $(VENV) …"
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/deskgate serve --demo $(ARGS)

test: $(TEST_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

demo: $(RUN_STAMP)
	$(BIN)/deskgate demo $(ARGS)

# Each benchmark starts what it measures (its own serve / Redis) and prints figures and targets.
bench: bench-ingest bench-triage bench-mail bench-claims bench-webhooks bench-retrain

bench-ingest: $(RUN_STAMP)
	$(BIN)/python bench/ingest.py $(ARGS)

bench-triage: $(RUN_STAMP)
	$(BIN)/python bench/triage.py $(ARGS)

bench-mail: $(RUN_STAMP)
	$(BIN)/python bench/mail.py $(ARGS)

bench-claims: $(RUN_STAMP)
	$(BIN)/python bench/claims.py $(ARGS)

bench-webhooks: $(RUN_STAMP)
	$(BIN)/python bench/webhooks.py $(ARGS)

bench-retrain: $(RUN_STAMP)
	$(BIN)/python bench/retrain.py $(ARGS)

# Risk quality per category on the corpus split and the held-out cases (not a speed benchmark).
bench-risk: $(RUN_STAMP)
	$(BIN)/python bench/risk_eval.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
