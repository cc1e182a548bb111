# Billchain: every target sets up what it needs, so a fresh clone needs only `make run` or `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export SOLCX_BINARY_PATH := $(CURDIR)/.solcx
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# Ape keeps its data (compiler caches, dependency copies) inside the repo, never in ~/.ape.
export APE_DATA_FOLDER := $(CURDIR)/.cache/ape
PYTEST_FLAGS ?= -q

.PHONY: setup run run-member test lint compile test-contracts test-nodes test-py bench debian-packages translations clean

setup: $(VENV)/.stamp node_modules/.stamp $(SOLCX_BINARY_PATH)/solc-v0.8.28 $(BIN)/anvil app/static/vendor/.stamp translations

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Browser assets (QR scanner polyfill + wasm) copied from node_modules: served locally, never from a CDN.
app/static/vendor/.stamp: node_modules/.stamp tools/vendor-assets.sh
	tools/vendor-assets.sh

# py-solc-x (used by ape-solidity) only looks for solc-v<version> in SOLCX_BINARY_PATH.
$(SOLCX_BINARY_PATH)/solc-v0.8.28: tools/solc-shim.js node_modules/.stamp
	mkdir -p $(SOLCX_BINARY_PATH)
	ln -sf $(CURDIR)/tools/solc-shim.js $@

# ape-foundry finds anvil only on PATH; npm ships the native binary.
$(BIN)/anvil: node_modules/.stamp $(VENV)/.stamp
	ln -sf $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil $@

# Compiled translations (.mo) are build output; the .po files are the source.
translations: $(VENV)/.stamp
	$(BIN)/pybabel compile --statistics -d app/translations

# Debian packages: chromium drives the browser tests (Playwright's own browser download cannot work
# here); fonts-wqy-microhei is the CJK font embedded in bill PDFs and named in OFDs (BILLCHAIN_PDF_FONT);
# postgresql gives tools/with-postgres.sh its initdb where no PostgreSQL server runs.
debian-packages:
	@command -v chromium >/dev/null && test -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc \
		&& compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei postgresql; }

compile: setup
	$(BIN)/ape compile

lint: setup
	$(BIN)/ruff check app dev scripts tests bench ape_console_extras.py
	$(BIN)/ruff format --check app dev scripts tests bench ape_console_extras.py
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy app dev
	$(BIN)/mypy scripts
	npx solhint 'contracts/**/*.sol'

# Contract unit tests on Ape's in-process EVM.
test-contracts: compile
	$(BIN)/ape test tests/contracts $(PYTEST_FLAGS)

# The same bytecode on real nodes: Anvil (ape-foundry starts it) and Ganache (we start it).
test-nodes: compile
	$(BIN)/ape test tests/contracts -m nodes --network ethereum:local:foundry $(PYTEST_FLAGS)
	tools/with-ganache.sh $(BIN)/ape test tests/contracts -m nodes --network ethereum:local:node $(PYTEST_FLAGS)

# Domain, app (real Anvil, SQLite and PostgreSQL) and browser tests.
# No PostgreSQL answering on 5432 (a fresh machine): a throwaway cluster for the run (tools/with-postgres.sh).
test-py: compile debian-packages
	$$(pg_isready -q -h 127.0.0.1 -p 5432 || test -n "$$BILLCHAIN_TEST_POSTGRES_URL" || echo tools/with-postgres.sh) \
		$(BIN)/pytest -p no:ape_test tests --ignore=tests/contracts $(PYTEST_FLAGS)

test: lint test-contracts test-nodes test-py

run: compile debian-packages
	$(PY) -m dev.run

# A second member platform beside a running `make run`: same Anvil and registry, its own database,
# keystore and instance folder (instance/member/), port 5001, no admin key (README, "Consortium").
run-member: compile debian-packages
	$(PY) -m dev.run --member

bench: compile
	$(PY) -m bench

clean:
	rm -rf .build .cache contracts/.cache instance/*.sqlite bench-results
