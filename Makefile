# The two commands: `make dev` runs the gateway, `make test` runs the whole suite.
# Both bootstrap what they need on a fresh machine, idempotently (`make install` does only that).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS_STAMP := .tools/node_modules/.ctrip-installed
PYTEST_ARGS ?=

.PHONY: install dev test services bench bench-reconcile token clean chaos fuzz

install: $(VENV)/.installed $(TOOLS_STAMP)

# Core and the three chain plugins, editable, pinned by constraints.txt.
$(VENV)/.installed: pyproject.toml constraints.txt plugins/ctrip_anvil/pyproject.toml \
                    plugins/ctrip_bsc/pyproject.toml plugins/ctrip_ethereum/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt \
	    -e '.[test]' -e plugins/ctrip_anvil -e plugins/ctrip_bsc -e plugins/ctrip_ethereum
	touch $@

# Anvil, cast and solc from the npm registry, pinned by .tools/package-lock.json.
$(TOOLS_STAMP): .tools/package.json .tools/package-lock.json
	npm ci --prefix .tools --no-audit --no-fund --loglevel=error
	touch $@

dev: install
	$(BIN)/ctrip dev

services:
	bash scripts/ensure-services.sh

test: install services
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The chaos soak beyond the short seeds `make test` runs: SEEDS=N seeds (1000, 1001, ...) of DURATION
# seconds of faults each, or SEED=s to replay one (tests/chaos/test_chaos_soak.py).
SEEDS ?= 3
DURATION ?= 120
SEED ?=
chaos: install services
	CTRIP_CHAOS_SEEDS=$(SEEDS) CTRIP_CHAOS_DURATION=$(DURATION) CTRIP_CHAOS_SEED=$(SEED) \
	    $(BIN)/python -m pytest tests/chaos/test_chaos_soak.py -k test_chaos_soak_long -s -p no:cacheprovider $(PYTEST_ARGS)

# Schemathesis against a live `ctrip api` beyond the bounded run in `make test` (15 examples):
# FUZZ_EXAMPLES per operation and phase (examples, coverage, fuzzing, stateful), FUZZ_SEED to explore
# other seeds; prints Schemathesis' summary (tests/api/test_schemathesis.py).
FUZZ_EXAMPLES ?= 300
FUZZ_SEED ?= 20261125
fuzz: install services
	CTRIP_SCHEMATHESIS_MAX_EXAMPLES=$(FUZZ_EXAMPLES) CTRIP_SCHEMATHESIS_SEED=$(FUZZ_SEED) \
	    $(BIN)/python -m pytest tests/api/test_schemathesis.py -s -p no:cacheprovider --timeout=0 $(PYTEST_ARGS)

bench: install services
	$(BIN)/python bench/derive.py

# The balance auditor over 100,000 issued addresses on Anvil (docs/reconcile.md).
bench-reconcile: install services
	$(BIN)/python bench/reconcile.py

# Rebuild the committed contract artifacts (TestToken, BalanceReader) from contracts/*.sol.
token: $(TOOLS_STAMP)
	node contracts/build.js

clean:
	rm -rf $(VENV) .tools/node_modules .ctrip
