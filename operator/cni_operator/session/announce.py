"""What the operator did, said twice: a Kubernetes Event on the ClusterNetwork and one INFO (or WARNING) log line.

An admin reading `kubectl describe cnet default` and one reading the operator's log see the same actions (install,
update, drift reverted, prune, refusal, conflicting writer, apply failure). Imported clusters get log lines only:
the operator writes nothing there but status.
"""

from __future__ import annotations

import logging

from ..apply import ApplyOutcome
from ..catalog import load_catalog
from ..events import NORMAL, WARNING, EventRecorder
from ..metrics import METRICS
from ..objects import ObjectRef


class Announcer:
    def __init__(self, recorder: EventRecorder | None, logger: logging.Logger, metric_labels: dict | None = None):
        self.recorder = recorder
        self.logger = logger
        self.labels = metric_labels or {}

    def say(self, cr: dict, type_: str, reason: str, message: str, *, event: bool = True) -> None:
        level = logging.WARNING if type_ == WARNING else logging.INFO
        self.logger.log(level, "%s: %s", reason, message)
        if event and self.recorder is not None:
            self.recorder.post(cr, type_, reason, message)

    def apply_outcome(self, cr: dict, what: str, outcome: ApplyOutcome, first_install: bool) -> None:
        """Events, log lines and metrics for what one apply step did. `what`: 'canal v3.32.1'."""
        if outcome.created and first_install:
            self.say(cr, NORMAL, "Installing", f"installing {what}: created {len(outcome.created)} objects")
        elif outcome.created or outcome.updated:
            changed = [r.describe() for r in outcome.created + outcome.updated]
            self.say(cr, NORMAL, "Updating", f"applied {what}: {len(changed)} objects changed "
                     f"({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})")
        for ref, field in outcome.reverted:
            METRICS.inc("cni_operator_drift_reverts_total", kind=ref.kind, **self.labels)
            self.say(cr, WARNING, "DriftReverted",
                     f"{ref.describe()} was changed outside cni-operator ({field}); put it back. To keep a "
                     f"manual change, annotate the object cni-operator.io/ignore=true.")
        if outcome.pruned:
            self.say(cr, NORMAL, "Pruned", "removed objects the new render no longer has: "
                     + ", ".join(r.describe() for r in outcome.pruned))
        self.retained(cr, outcome.retained)
        for ref, _ in outcome.deferred:
            self.say(cr, WARNING, "ConflictingWriter",
                     f"{ref.describe()} keeps being changed by another writer; cni-operator reverts it "
                     f"with growing delays instead of fighting. Find the other writer, or annotate the "
                     f"object cni-operator.io/ignore=true.")
        for ref, message in outcome.errors:
            self.say(cr, WARNING, "ApplyFailed", f"{ref.describe()}: {message}")
        for action, refs in (("created", outcome.created), ("updated", outcome.updated), ("pruned", outcome.pruned)):
            if refs:
                METRICS.inc("cni_operator_objects_applied_total", len(refs), action=action, **self.labels)
        if outcome.reverted:
            METRICS.inc("cni_operator_objects_applied_total", len(outcome.reverted), action="reverted", **self.labels)

    def retained(self, cr: dict, retained: list[tuple[ObjectRef, int | None]]) -> None:
        """One Warning per CRD a prune or a delete kept because objects of its kind exist; one Normal Event per CRD
        released because the catalog says the provider never owns it (an older operator had labelled it)."""
        catalog = load_catalog()
        for ref, count in retained:
            held = ("cni-operator may not count its objects" if count is None else
                    f"{count} object of its kind exists" if count == 1 else f"{count} objects of its kind exist")
            if catalog.never_owns(ref.name, None):
                self.say(cr, NORMAL, "CRDReleased",
                         f"released {ref.describe()} ({held}): cni-operator never installs, changes or deletes it "
                         f"(its owner, on EKS the control plane, installs it); an older cni-operator had labelled "
                         f"it as its own. Its labels are removed and it stays as it is.")
                continue
            self.say(cr, WARNING, "CRDRetained",
                     f"kept {ref.describe()} instead of deleting it: {held}, and deleting a CRD deletes them all. "
                     f"It is no longer managed by cni-operator; delete it yourself once they are migrated or unneeded.")

    def adoption(self, cr: dict, adopted: list[ObjectRef], released: list[ObjectRef]) -> None:
        """What a first install took over from someone else's install, and adopted objects let go of."""
        if adopted:
            self.say(cr, NORMAL, "Adopted",
                     f"took over {len(adopted)} existing objects not installed by cni-operator (spec.adoption): "
                     f"{', '.join(r.describe() for r in adopted[:6])}{' and more' if len(adopted) > 6 else ''}. "
                     f"They are listed in status.adopted and never pruned or deleted.")
        kept = [r for r in released if r.kind == "ENIConfig"]  # apply.NEVER_DELETED_KINDS: never adopted, never deleted
        released = [r for r in released if r.kind != "ENIConfig"]
        if kept:
            self.say(cr, NORMAL, "ENIConfigReleased",
                     f"left {', '.join(r.describe() for r in kept)} in place instead of deleting it: cni-operator "
                     f"never deletes an ENIConfig, since nodes may still select it. It is no longer managed by "
                     f"cni-operator; delete it yourself (kubectl delete eniconfig NAME) once no node uses it.")
        if released:
            self.say(cr, NORMAL, "AdoptedReleased",
                     f"left {len(released)} adopted objects in place instead of deleting them (they existed before "
                     f"cni-operator took them over); no longer managed: "
                     f"{', '.join(r.describe() for r in released[:6])}{' and more' if len(released) > 6 else ''}")

    def phase_change(self, cr: dict, previous: str | None, status: dict) -> None:
        """Events mark phase transitions only; imported clusters get a log line and no Event."""
        phase = status.get("phase")
        if phase == previous:
            return
        imported = phase == "Unmanaged"
        if phase in ("Degraded", "Failed"):
            degraded = next((c for c in status["conditions"] if c["type"] == "Degraded"), {})
            self.say(cr, WARNING, degraded.get("reason", "Degraded"), degraded.get("message", ""), event=not imported)
        elif phase == "Ready":
            reason = "Recovered" if previous in ("Degraded", "Failed") else "Ready"
            self.say(cr, NORMAL, reason, f"{status.get('provider')} {status.get('version')}: "
                     f"{status.get('readySummary', '')} CNI pods ready")
        elif imported:
            self.logger.info("phase %s -> Unmanaged: reporting the existing CNI, writing nothing but status",
                             previous or "none")
