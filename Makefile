# Switchboard — the project contract: test, tools, up/down, bench.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

include tools/versions.env
SWITCHBOARD_CACHE ?= $(HOME)/.cache/switchboard
export SWITCHBOARD_CACHE
# Pinned upstream livekit-sip archives, used when the module proxy refuses the module.
LIVEKIT_SIP_SOURCES ?= $(if $(wildcard ../shared/third_party/livekit-sip/SHA256SUMS),$(abspath ../shared/third_party/livekit-sip))
export LIVEKIT_SIP_SOURCES
UV := $(SWITCHBOARD_CACHE)/uv-$(UV_VERSION)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help
help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	tools/install.sh uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock operator/pyproject.toml agent/pyproject.toml \
		gateway/pyproject.toml
	$(UV) sync --locked --python python3
	touch $@

.PHONY: venv
venv: $(VENV)/.synced ## create/refresh .venv from uv.lock

.PHONY: tools
tools: ## build/install the pinned real components into ~/.cache/switchboard
	tools/install.sh

.PHONY: images
images: tools venv ## OCI images without Docker: pause, Debian python base (mmdebstrap), operator, agent (buildah); cached
	$(PY) -m devstack.images build --apps

.PHONY: node-up
node-up: venv ## a real node (containerd, kubelet, kube-proxy) on the running `make up` cluster
	$(PY) -m devstack.node up

.PHONY: node-down
node-down: venv ## stop the real node; fails if mounts, links or iptables chains are left
	$(PY) -m devstack.node down

.PHONY: lint
lint: venv ## ruff + mypy (strict on the operator and the gateway)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy operator/switchboard
	$(VENV)/bin/mypy agent/switchboard_agent
	$(VENV)/bin/mypy gateway/switchboard_gateway

.PHONY: crds-check
crds-check: ## the chart's CRDs are a copy of crds/
	diff -r crds charts/switchboard/crds

.PHONY: chart-crds
chart-crds: ## copy crds/ into the chart (charts/switchboard/crds)
	rm -rf charts/switchboard/crds && cp -r crds charts/switchboard/crds

.PHONY: test
test: tools venv lint images ## install everything, then run every test tier this machine can run
	SWITCHBOARD_REQUIRE_TOOLS=1 $(PY) -m pytest -m "not kind" $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: venv ## unit tier only (fast)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

.PHONY: test-kind
test-kind: venv ## opt-in tier against a real kind/minikube cluster (KUBECONFIG)
	$(PY) -m pytest -m kind $(PYTEST_ARGS)

.PHONY: bench
bench: tools venv ## benchmarks: print figures, write JSON to bench/results/
	$(PY) -m bench $(BENCH_ARGS)

.PHONY: up
up: tools venv ## run it: control plane, LiveKit, operator, examples, agent worker (KUBECONFIG set: helm; SIPWS=1: SIP over WebSocket)
	$(PY) -m devstack.up up $(if $(SIPWS),--sipws) $(UP_ARGS)

.PHONY: call
call: venv ## a real SIP call to the `make up` stack (NUMBER=, QUESTION=, RECORD=)
	$(PY) -m devstack.call $(if $(NUMBER),--number "$(NUMBER)") \
	  $(if $(QUESTION),--question "$(QUESTION)") $(if $(RECORD),--record "$(RECORD)")

.PHONY: down
down: venv ## stop everything `make up` started (and check no process is left)
	$(PY) -m devstack.up down $(UP_ARGS)

.PHONY: clean
clean: ## remove the venv and caches inside the repo (not ~/.cache/switchboard)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
