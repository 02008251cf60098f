#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it:
#   1. unit tests (tests/unit, no cluster)
#   2. the local control plane (hack/localcluster.py up), unless KUBECONFIG_TESTS points at a cluster already
#   3. the k8s tiers, each on its own: tests/integration, tests/e2e, tests/faults, tests/fleet (pytest -m k8s);
#      the fleet tier's target clusters (hack/localcluster.py up --targets) are started just before it
#   4. the cluster is stopped on exit, whatever happened (only if this script started it)
# Every tier runs even if an earlier one failed, so one run shows every failure; the exit code is non-zero if any
# tier failed. A tier directory without test files is skipped. pytest's "no tests collected" (exit 5) is an error when
# the directory does contain test files (a broken marker or import would otherwise pass silently), unless the tier's
# own selection does collect tests and it is PYTEST_ARGS (say `-k drift`) that deselected all of them: then the tier
# simply has nothing to run. The last line is one pytest-style summary of all tiers, e.g.
#   ============ 570 passed, 3 skipped, 40 deselected in 742.31s (0:12:22) ============
# (tiers that failed without a failed/error count of their own, e.g. nothing collected, count as 1 error each).
#
# Environment:
#   KUBECONFIG_TESTS=path   use this (disposable!) cluster; no cluster-up/down. Non-loopback servers are refused
#                           unless CNI_OPERATOR_TESTS_ALLOW_REMOTE=1. Set AUDIT_LOG_TESTS for audit-log tests.
#   NODES=N                 fake nodes for the local cluster, and for each fleet target (default 3)
#   TARGETS=N               target clusters for the fleet tier (default 3)
#   PYTEST_ARGS="..."       extra pytest arguments for every tier (e.g. "-x -k audit")
#   TIERS="integration"     run only these k8s tiers (default: integration e2e faults fleet; TIERS="" runs the unit
#                           tier only)
set -uo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
[[ -x $PY ]] || { echo "error: $PY not found; run \`make venv\` first." >&2; exit 2; }
read -r -a EXTRA <<<"${PYTEST_ARGS:-}"
TIERS=${TIERS-integration e2e faults fleet}

failed=()
started_cluster=0
SUMMARY=$(mktemp)   # one line per tier: NAME<TAB>ok or failed<TAB>pytest's summary line
T0=$EPOCHREALTIME

has_tests() { [[ -d $1 ]] && [[ -n $(find "$1" -name 'test_*.py' -o -name '*_test.py' | head -1) ]]; }

# run_tier NAME DIR pytest-args...: records a failure unless pytest passed.
run_tier() {
    local name=$1 dir=$2
    shift 2
    if ! has_tests "$dir"; then
        echo "== $name: no tests in $dir, skipped"
        return 0
    fi
    echo "== $name: pytest $dir $* ${EXTRA[*]}"
    local out rc line verdict=failed
    out=$(mktemp)
    "$PY" -u -m pytest "$dir" "$@" --durations=15 "${EXTRA[@]}" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    # pytest's summary line: the last one ending "in 1.23s" (or "in 72.41s (0:01:12)"), framed by ===== or not (-q).
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E ' in [0-9.]+s( \([0-9:]+\))?( =+)?$' | tail -n 1)
    rm -f "$out"
    if [[ $rc -eq 0 ]]; then
        verdict=ok
    elif [[ $rc -eq 5 ]]; then
        # Nothing selected. Harmless if the tier's own selection (without PYTEST_ARGS) has tests: `-k` or the like
        # deselected them all. A failure if it has none: a broken marker would make a whole tier pass unseen.
        if [[ ${#EXTRA[@]} -gt 0 ]] && "$PY" -m pytest "$dir" "$@" --collect-only -q >/dev/null 2>&1; then
            echo "== $name: PYTEST_ARGS (${EXTRA[*]}) deselected every test of this tier; nothing to run here"
            verdict=ok
        else
            echo "== $name: $dir has test files but pytest collected none (exit 5): check markers and imports" >&2
        fi
    fi
    printf '%s\t%s\t%s\n' "$name" "$verdict" "$line" >>"$SUMMARY"
    [[ $verdict == ok ]] || failed+=("$name (exit $rc)")
}

# summary_line EXTRA_ERRORS: one pytest-style line for the whole run, the tiers' counts summed; the run's last line.
summary_line() {
    python3 - "$SUMMARY" "$T0" "$EPOCHREALTIME" "$1" <<'PYEOF'
import re
import sys

path, elapsed, extra_errors = sys.argv[1], float(sys.argv[3]) - float(sys.argv[2]), int(sys.argv[4])
order = ["failed", "passed", "skipped", "deselected", "xfailed", "xpassed", "warnings", "errors"]
alias = {"warning": "warnings", "error": "errors"}
total = dict.fromkeys(order, 0)
for row in open(path, encoding="utf-8", errors="replace"):
    _name, verdict, line = (row.rstrip("\n").split("\t", 2) + ["", ""])[:3]
    counts = {alias.get(k, k): int(n) for n, k in re.findall(r"(\d+) ([a-z]+)", line.rsplit(" in ", 1)[0])}
    for k, n in counts.items():
        if k in total:
            total[k] += n
    if verdict != "ok" and not counts.get("failed") and not counts.get("errors"):
        total["errors"] += 1  # a tier that failed without a count saying so: nothing collected, usage error, crash
total["errors"] += extra_errors
parts = [f"{n} {k[:-1] if n == 1 and k in ('warnings', 'errors') else k}" for k, n in total.items() if n]
whole = int(elapsed)
h, m, s = whole // 3600, whole % 3600 // 60, whole % 60
print(f" {', '.join(parts) or 'no tests ran'} in {elapsed:.2f}s ({h}:{m:02d}:{s:02d}) ".center(80, "="))
PYEOF
}

cleanup() {
    local rc=$?
    if [[ $started_cluster -eq 1 ]]; then
        echo "== stopping the local cluster"
        python3 hack/localcluster.py down || rc=1
    fi
    # A run that stopped before its tiers (no cluster, interrupted) or failed to stop the cluster says so here too.
    local unaccounted=0
    [[ $rc -ne 0 && ${#failed[@]} -eq 0 ]] && unaccounted=1
    summary_line "$unaccounted" || true
    rm -f "$SUMMARY"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The unit tier needs no cluster and its tests share nothing: one worker per core (pytest-xdist) halves it here.
run_tier unit tests/unit -m "not k8s" -n auto

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
    if [[ $t == fleet && -z ${KUBECONFIG_TESTS:-} ]] &&
        { [[ ${#EXTRA[@]} -eq 0 ]] || "$PY" -m pytest tests/fleet -m k8s "${EXTRA[@]}" --collect-only -q >/dev/null 2>&1; }; then
        # The targets cost memory and CPU (docs/local-cluster.md): started only now, so the tiers before run as
        # without them, and not at all when PYTEST_ARGS deselects every fleet test. `up` keeps the running management
        # cluster and adds t1..tN; `down` at the end stops them too.
        echo "== fleet: starting ${TARGETS:-3} target clusters next to the management cluster"
        if ! "$PY" hack/localcluster.py up --nodes "${NODES:-3}" --targets "${TARGETS:-3}"; then
            printf 'fleet\tfailed\t\n' >>"$SUMMARY"
            failed+=("fleet (its target clusters did not start)")
            continue
        fi
    fi
    run_tier "$t" "tests/$t" -m k8s
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "== all tiers passed"
