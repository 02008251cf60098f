# Shared by hack/demo.sh and hack/demo-fleet.sh (sourced, after each has set REPO, STATE, PY, CLI, T0, STEPS,
# OPERATOR_KUBECONFIG and OPERATOR_LOG): output, kubectl, and starting the operator as a local process under a token
# of one of the chart's ServiceAccounts.

step_no=0
step() { step_no=$((step_no + 1)); echo ">> [$step_no/$STEPS] $* ($((SECONDS - T0))s)"; }
say() { echo "   $*"; }
die() { echo "error: $*" >&2; exit 1; }

[[ -x $PY && -x $CLI ]] || die ".venv is missing or incomplete; run \`make $DEMO_TARGET\` (it builds .venv first) or \`make venv\`."
KUBECTL=$(python3 hack/toolchain.py path kubectl) || die "kubectl is not built; run \`make tools\`."
HELM=$(python3 hack/toolchain.py path helm) || die "helm is not built; run \`make tools\`."
k() { "$KUBECTL" --kubeconfig "$STATE/kubeconfig" "$@"; }

# operator_kubeconfig NAMESPACE SERVICEACCOUNT: a kubeconfig (mode 600) at $OPERATOR_KUBECONFIG holding a token of
# that ServiceAccount (TokenRequest API) and the cluster's CA, so the operator has exactly the chart's rights.
operator_kubeconfig() {
    local namespace=$1 sa=$2 token server
    token=$(k -n "$namespace" create token "$sa" --duration=168h)
    server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
    rm -f "$OPERATOR_KUBECONFIG"
    (
        umask 077
        kc() { "$KUBECTL" --kubeconfig "$OPERATOR_KUBECONFIG" config "$@" >/dev/null; }
        kc set-cluster local --server="$server" --certificate-authority="$STATE/pki/ca.crt" --embed-certs=true
        kc set-credentials "$sa" --token="$token"
        kc set-context "$sa" --cluster=local --user="$sa" --namespace="$namespace"
        kc use-context "$sa"
    )
}

# start_operator WHAT NAMESPACE POD_NAME RUN-ARGS...: `cni-operator run RUN-ARGS` in the background with
# $OPERATOR_KUBECONFIG, recorded by hack/demo.py (pid file), until its /healthz answers. Sets OPERATOR_PID,
# METRICS_PORT and HEALTH_PORT.
start_operator() {
    local what=$1 namespace=$2 pod=$3
    shift 3
    METRICS_PORT=$(python3 hack/demo.py free-port)
    HEALTH_PORT=$(python3 hack/demo.py free-port)
    mkdir -p "$(dirname "$OPERATOR_LOG")"
    echo "---- $(date -u +%FT%TZ) make $DEMO_TARGET: starting the $what" >>"$OPERATOR_LOG"
    OPERATOR_PID=$(env KUBECONFIG="$OPERATOR_KUBECONFIG" POD_NAMESPACE="$namespace" POD_NAME="$pod" POD_ID="$pod" \
        CNI_OPERATOR_METRICS_PORT="$METRICS_PORT" CNI_OPERATOR_LOG_FORMAT=plain \
        python3 hack/demo.py start "$OPERATOR_LOG" -- "$CLI" run "$@" --health-port "$HEALTH_PORT")
    local deadline=$((SECONDS + 60))
    until curl -fsS -o /dev/null "http://127.0.0.1:$HEALTH_PORT/healthz" 2>/dev/null; do
        python3 hack/demo.py pid >/dev/null || { tail -n 30 "$OPERATOR_LOG" >&2; die "the $what exited; log: $OPERATOR_LOG"; }
        ((SECONDS < deadline)) || { tail -n 30 "$OPERATOR_LOG" >&2; die "the $what did not become healthy in 60s; log: $OPERATOR_LOG"; }
        sleep 0.2
    done
    say "pid $OPERATOR_PID, log ${OPERATOR_LOG#"$REPO"/}, /metrics on 127.0.0.1:$METRICS_PORT, /healthz on 127.0.0.1:$HEALTH_PORT"
}
