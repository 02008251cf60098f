#!/usr/bin/env bash
# `make demo`: the local control plane with fake nodes, the operator running under the chart's own RBAC, a sample
# mks ClusterNetwork, and Canal coming up on every node, shown live. The cluster is left running to play with.
#
#   bash hack/demo.sh          set up (or reuse) everything and show it; safe to run again
#   bash hack/demo.sh stop     stop the operator only (`make demo-stop`); `make cluster-down` stops everything
#   bash hack/demo.sh clean    stop the operator and remove what the demo put into the cluster (the ClusterNetwork,
#                              the CNI it installed, the chart's RBAC); the cluster, the CRDs and .cluster/env stay,
#                              as after `helm uninstall`, ready for `make test` or for trying the install paths
#                              (tests/e2e/test_demo.py uses it, the suite shares the CRDs)
#
# The operator's image cannot run here (no container runtime: kwok only pretends to run pods), so the operator runs
# as a local process, `cni-operator run`, authenticated as the chart's ServiceAccount with a token from
# `kubectl create token`: exactly the rights the chart grants it in a real cluster. Its pid goes into .cluster/pids,
# so `make cluster-down` stops it first. .cluster/env (`source` it: KUBECONFIG, kubectl, helm, cni-operator) belongs to
# the cluster (hack/localcluster.py writes it); the demo only adds CNI_OPERATOR_DEMO_METRICS while its operator runs.
#
# Environment: NODES (fake nodes, default 3), DEMO_TIMEOUT (seconds to wait for Ready, default 180),
# CNI_OPERATOR_CLUSTER_DIR (the cluster's state directory, default .cluster; the same variable hack/localcluster.py reads).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

NODES=${NODES:-3}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-180}
STATE=${CNI_OPERATOR_CLUSTER_DIR:-$REPO/.cluster}
PY=$REPO/.venv/bin/python
CLI=$REPO/.venv/bin/cni-operator
CNI_NS=kube-system
SA=cni-operator                      # the chart's ServiceAccount (release name cni-operator)
PEERING=cni-operator                 # the chart's KopfPeering (peering.name)
EXAMPLE=examples/clusternetwork-mks.yaml
OPERATOR_KUBECONFIG=$STATE/operator.kubeconfig
OPERATOR_LOG=$STATE/logs/operator.log
ENV_FILE=$STATE/env
T0=$SECONDS

STEPS=5
DEMO_TARGET=demo
# shellcheck source=hack/demo-common.sh
source hack/demo-common.sh

# The chart's objects the operator needs besides its Deployment: ServiceAccount, ClusterRole/Role and bindings,
# and the KopfPeering object replicas coordinate through. Rendered with default values, as `helm install` would.
# `chart_rbac --no-peering` leaves the KopfPeering out.
chart_rbac() {
    local peering=(--show-only templates/kopfpeering.yaml)
    [[ ${1:-} == --no-peering ]] && peering=()
    "$HELM" template cni-operator charts/cni-operator --namespace "$CNI_NS" \
        --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml "${peering[@]}"
}

# set_metrics_env [URL]: the CNI_OPERATOR_DEMO_METRICS line of .cluster/env, set to URL or removed (no operator).
set_metrics_env() {
    [[ -f $ENV_FILE ]] || return 0
    local rest
    rest=$(grep -v '^export CNI_OPERATOR_DEMO_METRICS=' "$ENV_FILE" || true)
    printf '%s\n' "$rest" >"$ENV_FILE"
    [[ -z ${1:-} ]] || echo "export CNI_OPERATOR_DEMO_METRICS=$1" >>"$ENV_FILE"
}

stop_operator() {
    local pid
    if pid=$(python3 hack/demo.py pid); then
        say "stopping the operator (pid $pid)"
        python3 hack/demo.py stop
    else
        python3 hack/demo.py stop # forget a dead one
    fi
    set_metrics_env
}

cmd_stop() {
    [[ -d $STATE ]] || { echo ">> no local cluster; nothing to stop"; exit 0; }
    stop_operator
    echo ">> operator stopped; the cluster and the CNI keep running (\`make cluster-down\` stops everything)"
}

cmd_clean() {
    python3 hack/localcluster.py status >/dev/null 2>&1 || die "the local cluster is not running; nothing to clean."
    stop_operator
    say "removing the ClusterNetwork, the CNI it installed, and the chart's RBAC (the CRDs stay)"
    if k get cnet default -o name >/dev/null 2>&1; then
        # Without the operator nobody would release a finalizer: drop it, the CNI objects go below anyway.
        k patch cnet default --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
        k delete cnet default --wait=true --timeout=60s
    fi
    local managed=app.kubernetes.io/managed-by=cni-operator
    k -n "$CNI_NS" delete ds,deploy,cm,sa,svc,pdb -l "$managed" --ignore-not-found --wait=true --timeout=120s
    k delete clusterrole,clusterrolebinding -l "$managed" --ignore-not-found --wait=true --timeout=60s
    # A CRD goes once the API server's CRD finalizer has removed its instances. That is usually a second, but the
    # finalizer retries with a growing back-off while a just-created CRD's storage is still initializing ("storage is
    # (re)initializing" in the kube-apiserver log), which can take minutes after quick create/delete cycles. So wait
    # a minute at most, then name the ones still terminating and carry on: they go on their own.
    k delete crd -l "$managed" --ignore-not-found --wait=false
    if [[ -n $(k get crd -l "$managed" -o name) ]] && ! k wait --for=delete crd -l "$managed" --timeout=60s >/dev/null 2>&1; then
        say "still terminating (the API server removes them shortly):"
        k get crd -l "$managed" -o name | sed 's/^/     /'
    fi
    chart_rbac --no-peering | k delete --ignore-not-found --wait=true --timeout=60s -f -
    # The KopfPeering by name, and only where its CRD exists: kubectl cannot map the kind of a CRD that is not there
    # (a cluster the demo never ran on), and would fail the whole delete.
    if k get crd kopfpeerings.kopf.dev -o name >/dev/null 2>&1; then
        k -n "$CNI_NS" delete kopfpeering "$PEERING" --ignore-not-found --wait=true --timeout=60s
    fi
    # The operator's token goes; .cluster/env stays (it is the cluster's, and what comes next needs it).
    rm -f "$OPERATOR_KUBECONFIG"
    python3 hack/localcluster.py env >/dev/null
    echo ">> demo removed from the cluster; the cluster keeps running (\`make cluster-down\` stops it);"
    echo "   \`source ${ENV_FILE#"$REPO"/}\` still sets KUBECONFIG and puts kubectl, helm and cni-operator on PATH"
}

cmd_up() {
    step "local control plane with $NODES fake nodes (reused if it is already up)"
    "$PY" hack/localcluster.py up --nodes "$NODES" | sed 's/^/   /'

    step "CRDs and the operator's RBAC, from the Helm chart (charts/cni-operator)"
    k apply --server-side --force-conflicts -f crds/clusternetworks.yaml -f charts/cni-operator/crds/ | sed 's/^/   /'
    k wait --for=condition=Established --timeout=60s crd/clusternetworks.cni-operator.io crd/kopfpeerings.kopf.dev \
        >/dev/null
    chart_rbac | k apply --server-side --force-conflicts -f - | sed 's/^/   /'

    step "the operator: \`cni-operator run\` as system:serviceaccount:$CNI_NS:$SA"
    stop_operator # a re-run restarts it: new code, a fresh token
    operator_kubeconfig "$CNI_NS" "$SA"
    start_operator "operator" "$CNI_NS" cni-operator-demo --standalone
    set_metrics_env "http://127.0.0.1:$METRICS_PORT/metrics"

    step "ClusterNetwork 'default' from $EXAMPLE, watched until Ready (kubectl get cnet -w)"
    k apply --server-side --force-conflicts -f "$EXAMPLE" | sed 's/^/   /'
    "$KUBECTL" --kubeconfig "$STATE/kubeconfig" get cnet -w & # not via k(): $! must be kubectl itself
    local watch=$!
    # kubectl wait compares each condition's observedGeneration with the spec's generation: a Ready left over from an
    # earlier spec does not count.
    if ! k wait --for=condition=Ready --timeout="${DEMO_TIMEOUT}s" cnet/default >/dev/null; then
        kill "$watch" 2>/dev/null || true
        wait "$watch" 2>/dev/null || true
        echo "error: the ClusterNetwork is not Ready after ${DEMO_TIMEOUT}s. What it says:" >&2
        k get cnet default -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2
        echo "operator log (${OPERATOR_LOG}), last lines:" >&2
        tail -n 20 "$OPERATOR_LOG" >&2
        exit 1
    fi
    sleep 0.5 # let the watch print the row it just received
    kill "$watch" 2>/dev/null || true
    wait "$watch" 2>/dev/null || true

    step "the canal pods: one per node"
    k -n "$CNI_NS" get po --selector=k8s-app=canal -o wide
    local nodes pods
    nodes=$(k get nodes -o name | wc -l)
    pods=$(k -n "$CNI_NS" get po --selector=k8s-app=canal -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | wc -l)
    [[ $nodes -eq $pods ]] || die "$pods nodes have a canal pod, $nodes nodes exist"

    local rel_env=${ENV_FILE#"$REPO"/} rel_log=${OPERATOR_LOG#"$REPO"/}
    cat <<EOF

>> demo ready in $((SECONDS - T0))s: ClusterNetwork default is Ready, one canal pod on each of the $nodes nodes.
   The cluster and the operator keep running. In another shell, from $REPO:

   source $rel_env          # pinned kubectl/helm + cni-operator on PATH, KUBECONFIG=the admin kubeconfig

   # make the canal pod on kwok-node-1 crash-loop: the ClusterNetwork goes Degraded and names the node
   POD=\$(kubectl -n kube-system get po -l k8s-app=canal --field-selector spec.nodeName=kwok-node-1 -o name)
   kubectl -n kube-system patch \$POD --subresource=status -p '{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"ContainersReady","status":"False"}],"containerStatuses":[{"name":"calico-node","ready":false,"restartCount":4,"image":"quay.io/calico/node:v3.32.1","imageID":"","lastState":{"terminated":{"exitCode":1,"reason":"Error"}},"state":{"waiting":{"reason":"CrashLoopBackOff"}}},{"name":"kube-flannel","ready":true,"restartCount":0,"image":"docker.io/flannel/flannel:v0.24.4","imageID":"","state":{"running":{}}}]}}'
   kubectl get cnet; kubectl get cnet default -o jsonpath='{.status.conditions[?(@.type=="Degraded")].message}{"\n"}'
   kubectl -n kube-system delete \$POD          # the DaemonSet replaces it: Ready again

   python3 hack/localcluster.py nodes 5         # add nodes: READY becomes 5/5 within seconds
   kubectl -n kube-system set image ds/canal calico-node=quay.io/calico/node:v3.31.0   # put back at once
   kubectl get events -n default --field-selector involvedObject.kind=ClusterNetwork --sort-by=.lastTimestamp
   kubectl describe cnet default                # conditions, health counts, unhealthy pods per node
   curl -s \$CNI_OPERATOR_DEMO_METRICS          # the operator's Prometheus metrics
   tail -f $rel_log

   More (upgrade, pause, ignore annotation, deletion): docs/operations.md
   Stop:  make demo-stop (the operator only)   |   make cluster-down (everything, removes .cluster/)
EOF
}

case "${1:-up}" in
up) cmd_up ;;
stop) cmd_stop ;;
clean) cmd_clean ;;
*) die "usage: bash hack/demo.sh [up|stop|clean]" ;;
esac
