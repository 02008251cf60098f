# cni-operator: the README's two commands are `make demo` and `make test`; everything they need is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODES ?= 3
TARGETS ?= 0

.PHONY: help venv tools cluster-up cluster-down test test-unit test-k8s demo demo-stop demo-fleet demo-fleet-stop bench bench-fleet crd lint clean

help:
	@echo "make demo        set up everything, start the local control plane, run the operator, show a ClusterNetwork Ready"
	@echo "make demo-stop   stop the operator make demo started (make cluster-down stops everything)"
	@echo "make demo-fleet  fleet mode: a management cluster, 3 target clusters (mks, eks, imported), the fleet operator,"
	@echo "                 kubectl get rcn -A showing Ready, Ready, Unmanaged (docs/fleet.md)"
	@echo "make demo-fleet-stop stop the fleet operator make demo-fleet started"
	@echo "make test        set up everything and run the whole suite (unit, integration, e2e, faults, fleet)"
	@echo "make venv        .venv with the package, the cni-operator command and the dev tools"
	@echo "make tools       build (or reuse) the control plane binaries under ~/.cache/cni-operator/bin"
	@echo "make cluster-up  start the local control plane (NODES=$(NODES)); admin kubeconfig in .cluster/kubeconfig"
	@echo "                 TARGETS=3 make cluster-up: also fleet targets t1..t3 (.cluster/targets/<name>/kubeconfig)"
	@echo "make cluster-down stop it and remove its state"
	@echo "make bench       benchmarks -> BENCHMARKS.md"
	@echo "make bench-fleet fleet-mode benchmarks (needs TARGETS=5 make cluster-up) -> BENCHMARKS.md section 7"

# Rebuilt only when pyproject.toml changes; the stamp makes repeated runs a no-op.
venv: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml
	@echo ">> creating $(VENV) (package, cni-operator command, dev tools)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

tools:
	@$(PYTHON) hack/toolchain.py build

cluster-up: venv tools
	@$(PY) hack/localcluster.py up --nodes $(NODES) --targets $(TARGETS)

cluster-down:
	@$(PYTHON) hack/localcluster.py down

test: venv tools
	@bash hack/run-tests.sh

test-unit: venv
	@$(PY) -m pytest tests/unit -q

demo: venv tools
	@bash hack/demo.sh

demo-stop:
	@bash hack/demo.sh stop

demo-fleet: venv tools
	@bash hack/demo-fleet.sh

demo-fleet-stop:
	@bash hack/demo-fleet.sh stop

bench: venv tools
	@$(PY) -m bench.run

bench-fleet: venv tools
	@$(PY) -m bench.bench_fleet

# Regenerate everything derived from the API models and the catalog: the CRD, docs/api.md, the chart's templated CRD,
# the chart's RBAC files for the CNI (hack/cni_rbac.py, run by gen-bundle.py) and the bundles.
crd: venv
	@$(VENV)/bin/cni-operator crd > crds/clusternetworks.yaml
	@$(VENV)/bin/cni-operator crd --kind RemoteClusterNetwork > crds/remoteclusternetworks.yaml
	@$(VENV)/bin/cni-operator docs > docs/api.md
	@$(PY) hack/gen-bundle.py

lint: venv
	@$(VENV)/bin/ruff check operator tests hack bench
	@$(VENV)/bin/lint-imports

clean: cluster-down
	rm -rf $(VENV)
