#!/usr/bin/env bash
# `make demo-fleet`: fleet mode on the local substrate. A management cluster and three target clusters t1..t3, the
# fleet operator running under the chart's fleet RBAC (fleet.enabled=true), and one RemoteClusterNetwork per target:
# t1 an mks cluster (Canal installed), t2 an eks cluster (nodes labelled as EKS nodes; the AWS VPC CNI installed), t3
# an imported cluster whose own Canal is only observed. Ends with `kubectl get rcn -A` showing Ready, Ready and
# Unmanaged, and with what to try next. Everything is left running to play with.
#
#   bash hack/demo-fleet.sh          set up (or reuse) everything and show it; safe to run again
#   bash hack/demo-fleet.sh stop     stop the fleet operator only (`make demo-fleet-stop`); `make cluster-down` stops
#                                    everything
#   bash hack/demo-fleet.sh clean    stop the fleet operator and remove what the demo put into the clusters (the
#                                    RemoteClusterNetworks and Secrets, the CNIs, labels and identities in the targets,
#                                    the chart's fleet RBAC); the clusters and the CRD stay (tests/fleet/test_demo_fleet.py
#                                    uses it, so the fleet tests after it find the targets as they were)
#
# As in hack/demo.sh the operator runs as a local process (no container runtime here), `cni-operator run --fleet
# --standalone`, authenticated as the chart's fleet ServiceAccount with a token from `kubectl create token`: exactly
# the rights the chart grants a fleet release in a real management cluster. Its pid goes into .cluster/pids as
# `cni-operator-fleet`, so `make cluster-down` stops it first and `make demo-stop` leaves it alone.
# Each target is registered by hack/fleet_register.py, as a provisioning controller would: the operator's identity in
# the target (`cni-operator target-rbac --token-secret`), a kubeconfig with that token in a Secret of the
# management cluster, and the RemoteClusterNetwork.
#
# Environment: NODES (fake nodes per cluster, default 3), DEMO_TIMEOUT (seconds to wait for the three phases, default
# 240), CNI_OPERATOR_CLUSTER_DIR (the cluster's state directory, default .cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

NODES=${NODES:-3}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-240}
STATE=${CNI_OPERATOR_CLUSTER_DIR:-$REPO/.cluster}
PY=$REPO/.venv/bin/python
CLI=$REPO/.venv/bin/cni-operator
RELEASE=cni-operator-fleet           # the chart's objects are named after it (it contains the chart's name)
OPERATOR_NS=cni-operator             # the fleet operator's namespace: its ServiceAccount and its Lease
SA=$RELEASE                          # the chart's ServiceAccount for that release
FLEET_NS=fleet                       # where the Secrets and RemoteClusterNetworks of the targets live
OPERATOR_KUBECONFIG=$STATE/operator-fleet.kubeconfig
OPERATOR_LOG=$STATE/logs/operator-fleet.log
export CNI_OPERATOR_DEMO_COMPONENT=cni-operator-fleet   # hack/demo.py records and stops this name only
T0=$SECONDS

STEPS=6
DEMO_TARGET=demo-fleet
# shellcheck source=hack/demo-common.sh
source hack/demo-common.sh

# The chart's objects of a fleet release besides its Deployment: the RemoteClusterNetwork CRD, the ServiceAccount and
# the management cluster's RBAC, rendered as `helm install --set fleet.enabled=true` would.
chart_fleet() {
    "$HELM" template "$RELEASE" charts/cni-operator --namespace "$OPERATOR_NS" --set fleet.enabled=true \
        --show-only templates/crd-remoteclusternetworks.yaml --show-only templates/serviceaccount.yaml \
        --show-only templates/rbac-fleet.yaml
}

stop_operator() {
    local pid
    if pid=$(python3 hack/demo.py pid); then
        say "stopping the fleet operator (pid $pid)"
    fi
    python3 hack/demo.py stop # also forgets a dead one
}

cmd_stop() {
    [[ -d $STATE ]] || { echo ">> no local cluster; nothing to stop"; exit 0; }
    stop_operator
    echo ">> fleet operator stopped; the clusters and their CNIs keep running (\`make cluster-down\` stops everything)"
}

# The three targets: name, cluster type, and what fleet_register.py does to it before it is registered (--eks,
# --foreign-cni), as it would be when it was provisioned. `clean` undoes all of it.
REGISTRATIONS=(
    "t1 --cluster-type mks"
    "t2 --cluster-type eks --eks"
    "t3 --cluster-type imported --foreign-cni"
)

cmd_clean() {
    python3 hack/localcluster.py status >/dev/null 2>&1 || die "the local cluster is not running; nothing to clean."
    stop_operator
    local registration
    for registration in "${REGISTRATIONS[@]}"; do
        # shellcheck disable=SC2086 # the arguments are words
        "$PY" hack/fleet_register.py $registration --namespace "$FLEET_NS" --unregister | sed 's/^/   /'
    done
    k delete namespace "$FLEET_NS" --ignore-not-found --wait=false >/dev/null
    # The chart's fleet objects but the CRD (shared with the fleet tests, kept as `helm uninstall` keeps it).
    "$HELM" template "$RELEASE" charts/cni-operator --namespace "$OPERATOR_NS" --set fleet.enabled=true \
        --show-only templates/serviceaccount.yaml --show-only templates/rbac-fleet.yaml |
        k delete --ignore-not-found -f - >/dev/null
    k delete namespace "$OPERATOR_NS" --ignore-not-found --wait=false >/dev/null # its Lease goes with it
    rm -f "$OPERATOR_KUBECONFIG"
    echo ">> fleet demo removed; the management cluster and the targets keep running (\`make cluster-down\` stops them)"
}

# phases: "t1=Ready t2=Ready t3=Unmanaged" as the RemoteClusterNetworks of $FLEET_NS say now.
phases() {
    k -n "$FLEET_NS" get rcn -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase} {end}' 2>/dev/null | xargs
}

cmd_up() {
    step "management cluster and 3 target clusters, $NODES fake nodes each (reused if they are up)"
    "$PY" hack/localcluster.py up --nodes "$NODES" --targets 3 | sed 's/^/   /'

    step "the targets as they were provisioned: t2's nodes labelled as EKS nodes, upstream Canal running in t3"
    local registration
    for registration in "${REGISTRATIONS[@]}"; do
        # shellcheck disable=SC2086 # the arguments are words
        "$PY" hack/fleet_register.py $registration --prepare-only | sed 's/^/   /'
    done
    # t3's own network is up before the operator arrives, as an imported cluster's is.
    "$KUBECTL" --kubeconfig "$STATE/targets/t3/kubeconfig" -n kube-system rollout status ds/canal --timeout=120s |
        sed 's/^/   /'

    step "the RemoteClusterNetwork CRD and the fleet operator's RBAC, from the Helm chart (fleet.enabled=true)"
    k create namespace "$OPERATOR_NS" --dry-run=client -o yaml | k apply --server-side -f - | sed 's/^/   /'
    chart_fleet | k apply --server-side --force-conflicts -f - | sed 's/^/   /'
    k wait --for=condition=Established --timeout=60s crd/remoteclusternetworks.cni-operator.io >/dev/null

    step "the fleet operator: \`cni-operator run --fleet --standalone\` as system:serviceaccount:$OPERATOR_NS:$SA"
    stop_operator # a re-run restarts it: new code, a fresh token
    operator_kubeconfig "$OPERATOR_NS" "$SA"
    start_operator "fleet operator" "$OPERATOR_NS" cni-operator-fleet-demo --fleet --standalone

    step "three targets registered in namespace $FLEET_NS (hack/fleet_register.py): t1 mks, t2 eks, t3 imported"
    for registration in "${REGISTRATIONS[@]}"; do
        registration=${registration% --eks}                # done in step 2
        registration=${registration% --foreign-cni}
        # shellcheck disable=SC2086 # the arguments are words
        "$PY" hack/fleet_register.py $registration --namespace "$FLEET_NS" | sed 's/^/   /'
    done

    step "kubectl get rcn -A, until t1 and t2 are Ready and t3 Unmanaged (at most ${DEMO_TIMEOUT}s)"
    local want="t1=Ready t2=Ready t3=Unmanaged" now last=""
    deadline=$((SECONDS + DEMO_TIMEOUT))
    while now=$(phases); [[ $now != "$want" ]]; do
        [[ $now == "$last" ]] || say "$((SECONDS - T0))s: ${now:-no phase yet}"
        last=$now
        if ((SECONDS >= deadline)); then
            echo "error: after ${DEMO_TIMEOUT}s the phases are '$now', not '$want'. What they say:" >&2
            k -n "$FLEET_NS" get rcn -o jsonpath='{range .items[*]}{.metadata.name}:{"\n"}{range .status.conditions[*]}  {.type}={.status} {.reason}: {.message}{"\n"}{end}{end}' >&2
            echo "fleet operator log (${OPERATOR_LOG}), last lines:" >&2
            tail -n 20 "$OPERATOR_LOG" >&2
            exit 1
        fi
        python3 hack/demo.py pid >/dev/null || { tail -n 30 "$OPERATOR_LOG" >&2; die "the fleet operator exited; log: $OPERATOR_LOG"; }
        sleep 1
    done
    echo
    k get rcn -A | sed 's/^/   /'

    local rel_log=${OPERATOR_LOG#"$REPO"/} rel_state=${STATE#"$REPO"/}
    cat <<EOF

>> fleet demo ready in $((SECONDS - T0))s: t1 (mks, Canal) and t2 (eks, AWS VPC CNI) Ready, t3 (imported) Unmanaged.
   The clusters and the fleet operator keep running. In another shell, from $REPO:

   source $rel_state/env                        # kubectl, helm, cni-operator on PATH; KUBECONFIG = the management cluster
   T1="kubectl --kubeconfig $rel_state/targets/t1/kubeconfig"

   # break t1's network: its canal pod on kwok-node-1 crash-loops; t1 goes Degraded and names the node
   POD=\$(\$T1 -n kube-system get po -l k8s-app=canal --field-selector spec.nodeName=kwok-node-1 -o name)
   \$T1 -n kube-system patch \$POD --subresource=status -p '{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"ContainersReady","status":"False"}],"containerStatuses":[{"name":"calico-node","ready":false,"restartCount":4,"image":"quay.io/calico/node:v3.32.1","imageID":"","lastState":{"terminated":{"exitCode":1,"reason":"Error"}},"state":{"waiting":{"reason":"CrashLoopBackOff"}}},{"name":"kube-flannel","ready":true,"restartCount":0,"image":"docker.io/flannel/flannel:v0.24.4","imageID":"","state":{"running":{}}}]}}'
   kubectl get rcn -A; kubectl -n $FLEET_NS describe rcn t1 | sed -n '/Conditions/,/Events/p'
   \$T1 -n kube-system delete \$POD                # the DaemonSet replaces it: Ready again

   # make t2 unreachable: freeze its API server (it accepts connections, answers nothing). Within seconds t2 shows
   # PHASE Unreachable, REACHABLE False, Ready=Unknown (never Degraded), its last health kept with status.lastSeenTime
   kill -STOP \$(awk '\$1 == "kube-apiserver" {print \$2}' $rel_state/targets/t2/pids)
   kubectl get rcn -A -w                        # Ctrl-C when you have seen it
   kill -CONT \$(awk '\$1 == "kube-apiserver" {print \$2}' $rel_state/targets/t2/pids)   # back: Ready again
   python3 hack/localcluster.py restart kube-apiserver --target t2 --down 60   # or really down (refused) for 60 s

   kubectl get events -n $FLEET_NS --sort-by=.lastTimestamp
   tail -f $rel_log

   More: docs/fleet.md
   Stop:  make demo-fleet-stop (the fleet operator only)   |   make cluster-down (everything, removes .cluster/)
EOF
}

case "${1:-up}" in
up) cmd_up ;;
stop) cmd_stop ;;
clean) cmd_clean ;;
*) die "usage: bash hack/demo-fleet.sh [up|stop|clean]" ;;
esac
