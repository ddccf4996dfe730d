# The two commands of the README: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
# pip-tools, pip-audit, bandit and checkov: `make lock` and `make audit`, apart from the tests'
# pins.
TOOLS := .venv-tools
TOOLS_READY := $(TOOLS)/.ready
BENCH_READY := $(VENV)/.bench-ready
PORT ?= 3000
# Where `make run` records itself for `make invoke` and `make fixtures`, and writes the
# environment file of `sam local invoke --env-vars` (git-ignored).
LOCAL_STATE ?= .local
NODE_DEPS := tests/node/node_modules/.package-lock.json

.PHONY: run invoke fixtures test test-scale lint unit build lock audit bench clean node-deps openapi

run: $(READY)  ## serve the API on http://127.0.0.1:$(PORT) with an embedded DynamoDB
	PORT=$(PORT) $(BIN)/python -m local_api --event-fixtures --state-dir $(LOCAL_STATE)

# As `sam local invoke $(FN) -e $(EVENT)` does, without Docker: the response on stdout, the logs
# on stderr. Against the running `make run`'s tables, else fresh embedded ones.
invoke: $(READY)  ## run function FN of template.yaml on EVENT (a file of events/)
	@$(BIN)/python -m local_api.invoke $(FN) $(if $(EVENT),--event $(EVENT)) \
	  --state-dir $(LOCAL_STATE)

fixtures: $(READY)  ## put the events' fixtures back into the running `make run` (FN: for its event)
	@$(BIN)/python -m local_api.fixtures $(FN) --state-dir $(LOCAL_STATE)

# pytest runs on every core (pytest-xdist; at most 4 workers, as the longest test file bounds the
# run anyway); `make test PYTEST_WORKERS=0` runs it in one process, as a plain `pytest` does.
PYTEST_WORKERS ?= auto
test: $(READY) $(NODE_DEPS) lint  ## lint, type-check, cfn-lint the template, run every test
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses 4

# `make test` migrates 1,200 bindings end to end (more than a page of 1,000); this migrates
# 10,000, as a large Twilio Service would have them (about five minutes), then sends one
# notification to 10,000 bindings through the local pipeline (the tests marked `scale`; about
# half a minute).
test-scale: $(READY)  ## the migration, and a notification's delivery, end to end at 10,000 bindings
	NOTIFY_MIGRATE_BINDINGS=10000 $(BIN)/pytest tests/migrate/test_migrate_end_to_end.py
	$(BIN)/pytest -m scale tests/e2e/test_pipeline_at_scale.py

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

openapi: $(READY)  ## write openapi.json from template.yaml, Twilio's document and the layer's models
	$(BIN)/python -m local_api.openapi

$(READY): requirements-dev.txt layers/notify_bindings/requirements.txt
	$(PYTHON) -m venv $(VENV)
	# --no-compile: byte-compiling every installed module takes ~25 s; Python compiles (and
	# caches) those a run imports.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile --require-hashes \
	  -r requirements-dev.txt
	touch $@

$(BENCH_READY): $(READY) requirements-bench.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-bench.txt
	touch $@

# A few minutes: each benchmark prints its figures and writes bench/results/<name>.json.
bench: $(BENCH_READY)  ## measure every performance target, write bench/report.md and its charts
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.warm_overhead
	$(BIN)/python -m bench.round_trips
	$(BIN)/python -m bench.listing_scale
	$(BIN)/python -m bench.resolution_cost
	$(BIN)/python -m bench.expired_listing
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.provider_imports
	$(BIN)/python -m bench.delivery_throughput
	$(BIN)/python -m bench.notification_writes
	$(BIN)/python -m bench.fleet_estimate
	$(BIN)/python -m bench.end_to_end
	$(BIN)/python -m bench.report

$(TOOLS_READY): requirements-tools.txt
	rm -rf $(TOOLS) && $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check --require-hashes \
	  -r requirements-tools.txt
	touch $@

node-deps: $(NODE_DEPS)  ## the twilio Node.js client of tests/node, as package-lock.json pins it

# npm ci rewrites node_modules/.package-lock.json, so this reinstalls whenever the lock changes.
$(NODE_DEPS): tests/node/package.json tests/node/package-lock.json
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
	  2>/dev/null && command -v npm >/dev/null || { echo "make: the end-to-end test of the \
	twilio Node.js client (tests/node) needs Node.js 20 or newer and npm on PATH; found \
	node $$(node --version 2>/dev/null || echo 'none')" >&2; exit 1; }
	cd tests/node && npm ci --no-audit --no-fund
	touch $@

build:  ## sam build, with the SAM CLI in its own virtualenv (it pins other boto3/pydantic)
	./scripts/sam-build

lock:  ## resolve every requirements .in file into its .txt: pinned, with hashes (minutes)
	./scripts/lock

# Not part of `make test`: the SAM CLI takes minutes to install the first time, and the layer's
# build installs its wheels with pip. checkov scans the template offline, and every finding is
# fixed or skipped in it with its reason.
audit: $(READY) $(TOOLS_READY)  ## sam validate --lint, checkov, sam build and its tests, pip-audit, bandit
	./scripts/sam validate --lint --template-file template.yaml
	$(TOOLS)/bin/python scripts/scan_template.py template.yaml
	./scripts/sam-build
	@echo "audit: built layer $$(du -sk .aws-sam/build/BindingsLayer | cut -f1) KiB"
	$(BIN)/pytest -m audit tests/template/test_layer_build.py
	$(TOOLS)/bin/python scripts/audit_dependencies.py \
	  layers/notify_bindings/requirements.txt requirements-dev.txt requirements-tools.txt
	$(TOOLS)/bin/bandit --quiet -c pyproject.toml -r layers functions local_api notify_admin \
	  notify_migrate notify_cli

clean:
	rm -rf $(VENV) .venv-sam $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache tests/node/node_modules
