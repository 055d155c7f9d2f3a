# byok-gateway developer commands. Every target installs what it needs into .venv first.
SHELL := /bin/bash
# Lambda runs python3.13; use it when this machine has a working one, else python3 (3.11+ is supported).
PYTHON ?= $(shell python3.13 -c 'import sys' >/dev/null 2>&1 && echo python3.13 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dashboard's browser tests and screenshots drive Debian's chromium (Playwright cannot download browsers here).
CHROMIUM ?= /usr/bin/chromium
# The client-compatibility suite (tests/clients) runs Node clients (Claude Code, the Vercel AI SDK) with npm's node.
NPM ?= /usr/bin/npm

.PHONY: test dev admin bench lint typecheck unit clients clean screenshots

$(STAMP): requirements-dev.txt layers/gateway/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(NPM):
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck $(CHROMIUM) $(NPM)
	$(BIN)/pytest -n auto

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# Real clients as installed against the dev stack (part of `make test`); the Node ones install into .cache/clients.
clients: $(STAMP) $(NPM)
	$(BIN)/pytest tests/clients -n 2

dev: $(STAMP)
	exec $(BIN)/python -m local.devstack

admin: $(STAMP)
	$(BIN)/python -m local.admin $(ARGS)

bench: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m bench.run $(ARGS)
	$(BIN)/python -m bench.dashboard

screenshots: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m local.screenshots

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .bench .cache/clients
