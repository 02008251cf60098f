#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it:
#   1. unit tests (tests/unit, no cluster)
#   2. the local control plane (hack/localcluster.py up), unless KUBECONFIG_TESTS points at a cluster already
#   3. the k8s tiers, each on its own: tests/integration, tests/e2e, tests/faults (pytest -m k8s)
#   4. the cluster is stopped on exit, whatever happened (only if this script started it)
# Every tier runs even if an earlier one failed, so one run shows every failure; the exit code is non-zero if any
# tier failed. A tier directory without test files is skipped; pytest's "no tests collected" (exit 5) is an error
# when the directory does contain test files (a broken marker or import would otherwise pass silently).
#
# Environment:
#   KUBECONFIG_TESTS=path   use this (disposable!) cluster; no cluster-up/down. Non-loopback servers are refused
#                           unless CNI_OPERATOR_TESTS_ALLOW_REMOTE=1. Set AUDIT_LOG_TESTS for audit-log tests.
#   NODES=N                 fake nodes for the local cluster (default 3)
#   PYTEST_ARGS="..."       extra pytest arguments for every tier (e.g. "-x -k audit")
#   TIERS="integration"     run only these k8s tiers (default: integration e2e faults)
set -uo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
[[ -x $PY ]] || { echo "error: $PY not found; run \`make venv\` first." >&2; exit 2; }
read -r -a EXTRA <<<"${PYTEST_ARGS:-}"
TIERS=${TIERS:-integration e2e faults}

failed=()
started_cluster=0

has_tests() { [[ -d $1 ]] && [[ -n $(find "$1" -name 'test_*.py' -o -name '*_test.py' | head -1) ]]; }

# run_tier NAME DIR pytest-args...: records a failure unless pytest passed.
run_tier() {
    local name=$1 dir=$2
    shift 2
    if ! has_tests "$dir"; then
        echo "== $name: no tests in $dir, skipped"
        return 0
    fi
    echo "== $name: pytest $dir $*"
    "$PY" -m pytest "$dir" "$@" "${EXTRA[@]}"
    local rc=$?
    if [[ $rc -eq 0 ]]; then
        return 0
    elif [[ $rc -eq 5 ]]; then
        echo "== $name: $dir has test files but pytest collected none (exit 5): check markers and imports" >&2
    fi
    failed+=("$name (exit $rc)")
}

cleanup() {
    local rc=$?
    if [[ $started_cluster -eq 1 ]]; then
        echo "== stopping the local cluster"
        python3 hack/localcluster.py down || rc=1
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_tier unit tests/unit -m "not k8s"

k8s_dirs=()
for t in $TIERS; do has_tests "tests/$t" && k8s_dirs+=("$t"); done
if [[ ${#k8s_dirs[@]} -eq 0 ]]; then
    echo "== no k8s tiers with tests; not starting a cluster"
elif [[ -n ${KUBECONFIG_TESTS:-} ]]; then
    [[ -f $KUBECONFIG_TESTS ]] || { echo "error: KUBECONFIG_TESTS=$KUBECONFIG_TESTS: no such file" >&2; exit 2; }
    echo "== using the existing cluster in KUBECONFIG_TESTS=$KUBECONFIG_TESTS (not starting or stopping one)"
else
    python3 hack/toolchain.py build || exit 1
    if python3 hack/localcluster.py status >/dev/null 2>&1; then
        # Somebody's `make cluster-up`: use it and leave it running, it is not ours to stop.
        echo "== a local cluster is already up; using it and leaving it running"
        "$PY" hack/localcluster.py up --nodes "${NODES:-3}" || exit 1
    else
        # A failed `up` stops what it started itself and keeps .cluster/logs for the error it printed,
        # so only a successful start makes this script responsible for `down`.
        "$PY" hack/localcluster.py up --nodes "${NODES:-3}" || exit 1
        started_cluster=1
    fi
fi

for t in "${k8s_dirs[@]}"; do
    run_tier "$t" "tests/$t" -m k8s
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "== all tiers passed"
