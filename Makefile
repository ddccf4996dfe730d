# The two commands of the README: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
PORT ?= 3000

.PHONY: run test lint unit build lock clean

run: $(READY)  ## serve the API on http://127.0.0.1:$(PORT) with an embedded DynamoDB
	PORT=$(PORT) $(BIN)/python -m local_api

test: $(READY) lint  ## lint, type-check, cfn-lint the template, run every test
	$(BIN)/pytest

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

$(READY): requirements-dev.txt layers/notify_bindings/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

build:  ## sam build, with the SAM CLI in its own virtualenv (it pins other boto3/pydantic)
	./scripts/sam-build

lock:  ## re-resolve requirements-dev.txt from requirements-dev.in
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.in
	{ sed -n '1,2p' requirements-dev.txt; .venv-lock/bin/pip freeze; } > requirements-dev.txt.new
	mv requirements-dev.txt.new requirements-dev.txt && rm -rf .venv-lock

clean:
	rm -rf $(VENV) .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache
