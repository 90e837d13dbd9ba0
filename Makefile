# The two commands: `make dev` runs the gateway, `make test` runs the whole suite.
# Both bootstrap what they need on a fresh machine, idempotently (`make install` does only that).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS_STAMP := .tools/node_modules/.ctrip-installed
PYTEST_ARGS ?=

.PHONY: install dev test services bench bench-reconcile bench-realtime bench-dashboard token clean chaos fuzz

install: $(VENV)/.installed $(TOOLS_STAMP)

# The bundled plugins under plugins/ctrip_<name>: the chains, and the SMTP notifier (off unless configured).
PLUGINS := anvil bsc ethereum polygon base arbitrum optimism notify_smtp

# Core and the bundled plugins, editable, pinned by constraints.txt.
$(VENV)/.installed: pyproject.toml constraints.txt $(foreach p,$(PLUGINS),plugins/ctrip_$(p)/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt \
	    -e '.[test]' $(foreach p,$(PLUGINS),-e plugins/ctrip_$(p))
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
	bash scripts/ensure-deploy-tools.sh
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

# Six chains at their real block times and sizes from a synthetic node, scanned by one process
# (bench/realtime.py; SECONDS of real time after BSC's one-hour catch-up).
SECONDS ?= 60
bench-realtime: install services
	$(BIN)/python bench/realtime.py $(SECONDS)

# The dashboard's payments list, each filter and each search over 1,000,000 payments of five merchants
# on PostgreSQL: p50/p99 per case, target p99 <= 150 ms (bench/dashboard.py; PAYMENTS=N, KEEP=1 to reuse
# the loaded database on the next run).
PAYMENTS ?= 1000000
KEEP ?=
bench-dashboard: install services
	$(BIN)/python bench/dashboard.py --payments $(PAYMENTS) $(if $(KEEP),--keep)

# Rebuild the committed contract artifacts (TestToken, BalanceReader) from contracts/*.sol.
token: $(TOOLS_STAMP)
	node contracts/build.js

clean:
	rm -rf $(VENV) .tools/node_modules .ctrip
