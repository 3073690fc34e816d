# Everything the service and its tests need is installed from here.
PY        ?= python3.11
VENV      := .venv
BIN       := $(VENV)/bin
OPENCODE_VERSION := 1.18.33
OPENCODE  := .tools/opencode/node_modules/.bin/opencode

.PHONY: install install-python install-opencode install-system run test lint typecheck bench eval clean

install: install-python install-opencode

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, from the CPU build this machine type carries: anything that
# pulls a plain `torch` later would otherwise fetch a CUDA build of several GB.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[service,test]'
	touch $@

install-python: $(VENV)/.installed

$(OPENCODE):
	mkdir -p .tools/opencode
	npm install --silent --no-audit --no-fund --prefix .tools/opencode opencode-ai@$(OPENCODE_VERSION)

install-opencode: $(OPENCODE)

# Debian packages for the Slurm tests (root; CI runs as root).
install-system:
	scripts/install-system-packages.sh

run: install
	$(BIN)/mlops-agent serve

test: install install-system lint typecheck
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff check agent core mcp_servers mlops_reporter evals tests bench
	$(BIN)/ruff format --check agent core mcp_servers mlops_reporter evals tests bench

typecheck:
	$(BIN)/mypy agent core mcp_servers mlops_reporter evals

bench: install
	$(BIN)/python -m bench

# Evaluate the configured model (MLOPS_MODEL_BASE_URL, MLOPS_MODEL) on every scenario.
eval: install
	$(BIN)/mlops-agent eval --output eval-results.json

clean:
	rm -rf $(VENV) .tools
