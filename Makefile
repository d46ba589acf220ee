# spctl: two commands set everything up.
#   make demo   installs everything, starts a 3-node lab, deploys the example pods, shows status
#   make test   installs everything and runs the whole test suite, lab tests included

VENV    ?= .venv
PY      := $(VENV)/bin/python
SPCTL   := $(VENV)/bin/spctl
PYTEST_ARGS ?=

.PHONY: demo test unit deps venv lint wheel-check lab-up lab-down bench clean vagrant-check

$(VENV)/.installed: pyproject.toml setup.py
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

deps:
	scripts/host-deps.sh

demo: venv deps
	$(SPCTL) lab up --nodes 3
	$(SPCTL) -i .spctl-lab/inventory.yaml deploy --all
	$(SPCTL) -i .spctl-lab/inventory.yaml status

test: venv deps lint wheel-check
	PY=$(PY) scripts/run-tests.sh $(PYTEST_ARGS)

# The unit tests alone (no lab, no Docker): the quick loop while changing code.
unit: venv
	$(PY) -m pytest tests/unit -q

# The sdist and wheel built from a copy of the tree, installed into a fresh venv, run.
wheel-check: venv
	PY=$(PY) scripts/check-wheel.sh

lint: venv
	$(VENV)/bin/ruff check spctl cli agent lab tests bench setup.py
	$(VENV)/bin/ruff format --check spctl cli agent lab tests bench setup.py
	$(VENV)/bin/mypy
	# The agent runs on the node's own python: fail if it needs more than 3.6.
	$(VENV)/bin/vermin -t=3.6- --no-tips --violations agent/

lab-up: venv deps
	$(SPCTL) lab up

lab-down: venv
	$(SPCTL) lab down

bench: venv deps
	$(PY) bench/run.py

# The Vagrant lab as far as it can be checked without a hypervisor: the Vagrantfile, the
# provisioning scripts (shellcheck), the inventory script's output (spctl's own loader).
# Installs ruby and shellcheck with apt-get if missing (as root). Not part of `make test`.
vagrant-check: venv
	SPCTL=$(SPCTL) PYTHON=$(PY) vagrant/check.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
