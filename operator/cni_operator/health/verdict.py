"""One small function per condition, each a pure function of the Evidence gathered once per pass.

A verdict is (status, reason, message). Ready, Progressing, Degraded and Applied are the operator's own (Tigera's
vocabulary); Reconciling and Stalled are the kstatus convention that Flux, Argo CD, kpt and cli-utils read:
Reconciling=True while work remains, Stalled=True when nothing more happens without a person.
"""

from __future__ import annotations

from .conditions import APPLIED, DEGRADED, FALSE, PROGRESSING, READY, REFUSALS, RETRIED, TRUE, UNKNOWN, Reason
from .evidence import Evidence
from .problems import MAX_PROBLEM_GROUPS, describe_problem

Verdict = tuple[str, Reason, str]

_DEGRADED_ORDER = [Reason.INVALID_CONFIGURATION, Reason.REGISTRY_NOT_ALLOWED, Reason.FOREIGN_CNI_DETECTED,
                   Reason.CLUSTER_TYPE_MISMATCH, Reason.ADOPTION_BLOCKED, Reason.ADOPTION_REFUSED, Reason.APPLY_FAILED,
                   Reason.RECONCILE_ERROR, Reason.WORKLOAD_MISSING,
                   Reason.PODS_FAILING, Reason.NODES_WITHOUT_CNI]
UNMANAGED_TEXT = "clusterType is imported: the operator never writes to this cluster and only reports its CNI"
NO_CNI = "no known CNI DaemonSet found (calico-node, canal, kube-flannel, aws-node, cilium)"


def ready(e: Evidence) -> Verdict:
    """Applied for this generation, every node has a ready CNI pod, controllers available."""
    error, ds, dep = e.error, e.ds, e.dep
    if e.unseen:
        return UNKNOWN, Reason.NO_CNI_DETECTED, NO_CNI
    if error in REFUSALS or (error and not e.this_generation):
        return FALSE, error, e.applied.message
    if not e.judge_network:
        return (FALSE, Reason.PAUSED, e.paused_text) if e.paused else (FALSE, Reason.NOT_APPLIED, e.not_applied_text)
    if not ds.present:
        return FALSE, Reason.WORKLOAD_MISSING, f"the {e.cni} DaemonSet is missing"
    if e.coverage.total == 0:
        return FALSE, Reason.NODES_NOT_READY, "the cluster has no nodes yet"
    if e.lacking:
        return FALSE, Reason.NODES_NOT_READY, e.coverage_text
    if dep is not None and not dep.present:
        return FALSE, Reason.WORKLOAD_MISSING, f"the {e.dep_name} Deployment is missing"
    if dep is not None and not dep.available:
        return FALSE, Reason.CONTROLLERS_NOT_READY, f"{e.dep_name}: {dep.ready} of {dep.desired} replicas ready"
    if e.rolling and not e.paused:
        # Old pods may all be Ready, but this generation is not there until every node runs its template: a
        # `kubectl wait --for=condition=Ready` after a change must wait for the rollout, not return at once.
        return FALSE, Reason.ROLLING_OUT, "; ".join(e.rolling)
    total = e.coverage.total
    return TRUE, Reason.ALL_NODES_READY, f"{total}/{total} nodes have a ready {e.cni} pod"


def progressing(e: Evidence) -> Verdict:
    """Tigera's rule (updated < desired or unavailable > 0), joining nodes, or an apply to come."""
    error = e.error
    if e.unseen:
        return UNKNOWN, Reason.NO_CNI_DETECTED, NO_CNI
    if error in REFUSALS:
        return FALSE, error, "nothing is applied until this is resolved"
    if e.rolling or e.starting:
        return TRUE, Reason.ROLLING_OUT if e.rolling else Reason.PODS_STARTING, "; ".join(e.rolling + e.starting)
    if e.paused:
        return FALSE, Reason.PAUSED, e.paused_text
    if e.managed and not e.this_generation:
        if error:
            return FALSE, error, e.applied.message
        return TRUE, Reason.APPLYING, f"applying generation {e.generation}"
    if e.missing:
        return FALSE, Reason.WORKLOAD_MISSING, "; ".join(e.missing)
    return FALSE, Reason.STABLE, "all CNI pods are updated and available"


def degraded(e: Evidence) -> Verdict:
    """Every problem at once (one bad node must not hide the rest); the reason is the most severe.
    Nodes without a ready CNI pod count once the rollout has settled and the node is past its grace period."""
    error = e.error
    causes: list[tuple[Reason, str]] = [(error, e.applied.message or str(error))] if error else []
    causes += [(Reason.WORKLOAD_MISSING, text) for text in e.missing]
    if e.ds.present and e.lacking > len(e.joining) and (e.settled or causes or e.problems):
        causes.append((Reason.NODES_WITHOUT_CNI, e.coverage_text))
    if e.foreign and e.managed:
        text = (f"another CNI runs next to {e.cni}: {', '.join(e.foreign)}; two CNIs on a node fight over pod "
                "networking: remove it (cni-operator never removes what it did not install)")
        causes.append((Reason.FOREIGN_CNI_DETECTED, text))
    if e.problems:
        more = len(e.problems) - MAX_PROBLEM_GROUPS
        causes.append((Reason.PODS_FAILING, "; ".join(describe_problem(p) for p in e.problems[:MAX_PROBLEM_GROUPS])
                       + (f"; and {more} more problem groups" if more > 0 else "")))
    if e.unseen:
        return UNKNOWN, Reason.NO_CNI_DETECTED, NO_CNI
    if causes:
        top = min((reason for reason, _ in causes), key=_DEGRADED_ORDER.index)
        return TRUE, top, "; ".join(text for _, text in causes)
    if e.unreverted:
        count = len(e.unreverted)
        return FALSE, Reason.AS_EXPECTED, (
            f"no problems found, but {count} managed object{'s differ' if count > 1 else ' differs'} from the render "
            f"and {'are' if count > 1 else 'is'} left as {'they are' if count > 1 else 'it is'}: "
            f"{'; '.join(e.unreverted[:3])}{' and more' if count > 3 else ''} (status.drift)")
    return FALSE, Reason.AS_EXPECTED, "no problems found"


def applied(e: Evidence) -> Verdict:
    if e.imported:
        return FALSE, Reason.UNMANAGED, UNMANAGED_TEXT
    if e.paused:
        return TRUE if e.this_generation else FALSE, Reason.PAUSED, e.paused_text
    if e.error:
        return FALSE, e.error, e.applied.message
    if e.this_generation:
        state = e.applied
        return TRUE, Reason.APPLIED, f"generation {e.generation} applied: {state.objects} objects, hash {state.hash[:12]}"
    return FALSE, Reason.NOT_APPLIED, e.not_applied_text


def reconciling(e: Evidence, progress: Verdict) -> Verdict:
    """kstatus: True while the operator still has work to do for this generation (applying, rolling out, pods
    starting, retrying a failed apply or pass); False once it has converged or can do nothing more by itself."""
    if progress[0] == TRUE:
        return progress
    if e.error in RETRIED:
        return TRUE, e.error, f"retrying: {e.applied.message}"
    return FALSE, progress[1], progress[2]


def stalled(e: Evidence) -> Verdict:
    """kstatus: True when nothing more happens without a person: an invalid spec, a registry the operator may not
    pull from, or a refused install."""
    if e.error in REFUSALS:
        return TRUE, e.error, e.applied.message
    return FALSE, Reason.AS_EXPECTED, "nothing needs a person"


def phase(e: Evidence, made: dict[str, dict]) -> tuple[str, dict]:
    """The one-word phase for `kubectl get cnet`, and the condition that explains it."""
    if e.imported:
        return "Unmanaged", made[DEGRADED if made[DEGRADED]["status"] == TRUE else READY]
    if e.error in REFUSALS:
        return "Failed", made[DEGRADED]
    if e.paused:
        return "Paused", made[APPLIED]
    if made[DEGRADED]["status"] == TRUE:
        return "Degraded", made[DEGRADED]
    if e.applied.generation is None:
        return "Pending", made[PROGRESSING]
    if made[READY]["status"] == TRUE:
        return "Ready", made[READY]
    return "Installing", made[PROGRESSING if made[PROGRESSING]["status"] == TRUE else READY]
