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

# AWS's Runtime Interface Emulator ships inside the aws-sam-cli package (samcli/local/rapid/aws-lambda-rie-*): only
# that binary is used, so the package goes into its own venv without its dependencies. awslambdaric, AWS's Python
# runtime interface client, plays the managed runtime's /var/runtime (built for this project's interpreter).
SAM_CLI_VERSION := 1.170.0
AWSLAMBDARIC_VERSION := 4.2.2
EMULATOR_STAMP := .cache/emulator-$(SAM_CLI_VERSION)-$(AWSLAMBDARIC_VERSION).installed

.PHONY: test dev admin bench bench-cost bench-scale lint typecheck unit clients clean screenshots emulator invoke

$(STAMP): requirements-dev.txt layers/gateway/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(EMULATOR_STAMP): $(STAMP)
	rm -rf .cache/samcli-venv .cache/lambda-runtime .cache/emulator-*.installed
	$(PYTHON) -m venv .cache/samcli-venv
	.cache/samcli-venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps aws-sam-cli==$(SAM_CLI_VERSION)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --target .cache/lambda-runtime awslambdaric==$(AWSLAMBDARIC_VERSION)
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

test: lint typecheck $(CHROMIUM) $(NPM) $(EMULATOR_STAMP)
	$(BIN)/pytest -n auto --dist loadgroup

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# Real clients as installed against the dev stack (part of `make test`); the Node ones install into .cache/clients.
clients: $(STAMP) $(NPM)
	$(BIN)/pytest tests/clients -n 2

dev: $(STAMP)
	exec $(BIN)/python -m local.devstack

emulator: $(EMULATOR_STAMP)

# make invoke FN=ChatFunction EVENT=events/chat_completions_stream.json (uses `make dev`'s stack, or starts one)
invoke: $(EMULATOR_STAMP)
	$(BIN)/python -m local.invoke $(FN) $(EVENT)

admin: $(STAMP)
	$(BIN)/python -m local.admin $(ARGS)

bench: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m bench.run $(ARGS)
	$(BIN)/python -m bench.dashboard
	$(BIN)/python -m bench.cost

# What a million chat requests cost on AWS, from inputs measured here (docs/cost.md); also the last step of bench.
bench-cost: $(STAMP)
	$(BIN)/python -m bench.cost $(ARGS)

# One account's busiest DynamoDB partitions under N chat workers, today's design beside the new one (ARGS: --help).
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale $(ARGS)

screenshots: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m local.screenshots

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .bench .cache
