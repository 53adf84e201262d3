# fleetsam: `make scan` scans the default inventory, `make test` runs every test from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fleetsam-installed
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all venv scan demo report test test-unit test-integration test-deps lint sanity collection bench catalogue clean

all: scan

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(STAMP)

## scan: install into .venv, scan the inventory, write reports/index.html and reports/report.json
scan: $(STAMP)
	$(BIN)/ansible-playbook playbooks/scan.yml

## demo: scan with the example licences and policy (examples/) into a store and reports of its own
demo: $(STAMP)
	FLEETSAM_LICENCES=examples/licences FLEETSAM_POLICY=examples/policy.yml \
	FLEETSAM_STORE=.fleetsam/demo.json FLEETSAM_REPORT_DIR=reports/demo \
	$(BIN)/ansible-playbook playbooks/scan.yml

## report: render the reports again from the store
report: $(STAMP)
	$(BIN)/fleetsam report

## test-deps: system packages the tests need beyond a minimal Debian (openssh-server, debootstrap, rpm, chromium, libatomic1...)
test-deps:
	bash tests/integration/install-deps.sh

## test: the whole suite (unit, integration with real sshd test hosts: needs root), then lint and sanity
test: test-deps $(STAMP)
	$(BIN)/python -m pytest -ra
	$(MAKE) lint sanity

test-unit: $(STAMP)
	$(BIN)/python -m pytest -ra tests/unit

test-integration: test-deps $(STAMP)
	$(BIN)/python -m pytest -ra tests/integration

## bench: every benchmark figure (bench/, results in BENCHMARKS.md); `make bench QUICK=1` is the reduced run
bench: test-deps $(STAMP)
	bash tests/integration/install-deps.sh fusioninventory-agent
	QUICK=$(QUICK) $(BIN)/python bench/run_all.py

## catalogue: compose the shipped catalogue again after editing sam_engine/data/catalogue/ (a test fails until then)
catalogue: $(STAMP)
	$(BIN)/python -m sam_engine.licensing.catalogue_cache

## lint: ansible-lint (production profile) at the root, the changelog fragments, ruff (pyflakes rules) on the Python
lint: $(STAMP)
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint
	$(BIN)/ruff check --select F,E9 sam_engine bench tests plugins

## sanity: ansible-test sanity on the collection (offline but for the package index)
sanity: $(STAMP)
	bash tests/sanity/run-sanity.sh

collection: $(STAMP)
	$(BIN)/ansible-galaxy collection build --force --output-path build/

## ee: an AWX / AAP execution environment image (execution-environment.yml; needs ansible-builder and podman or docker)
ee: $(STAMP)
	rm -rf build/ee && mkdir -p build/ee
	$(BIN)/ansible-galaxy collection build --force --output-path build/ee/
	$(BIN)/python -m pip wheel --no-deps --wheel-dir build/ee/ .
	ansible-builder build -f execution-environment.yml -t $(or $(EE_TAG),fleetsam-ee:latest)

clean:
	rm -rf build/ reports/ .pytest_cache
