"""What the operator would do with a ClusterNetwork, before anyone applies it: `cni-operator diff`.

Nothing here writes. The preview reads the live ClusterNetwork and the live objects, and asks the API server what a
server-side apply as the operator's field manager would make of each object that departs from the render (dryRun=All,
so admission, defaulting and field ownership are the API server's, not a guess). It decides as a reconcile pass
decides (session/reconcile.py): the same validation (with the installed version kept for a spec without
cni.version), the same registry policy, the same foreign-CNI check before a first install, the same inventory trust,
the same prune rules (managed-by label, ignore annotation, CRDs that hold objects are kept).

The comparison, the prune decision and the formatting are pure functions, tested without a cluster.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import api
from .apply import NEVER_DELETED_KINDS, catalog_never_owns
from .apply.diff import contains, with_hash_annotation
from .health import detect
from .kube import ALL_NAMESPACES, Kube, KubeError
from .objects import (
    CNI_NAMESPACE,
    HASH_ANNOTATION,
    PROVIDER_LABEL,
    VERSION_LABEL,
    ObjectRef,
    is_ignored,
    is_managed,
    kind_rank,
)
from .registry_policy import RegistryPolicy, refusal, refused_images
from .render import Rendered, render
from .session.inventory import read_inventory, trusted_refs
from .session.status import installed_version
from .validation import Problem, check, validate_object

# Fields the API server manages or that only say when and by whom: never a difference the operator makes.
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")
# Ours, and different on every object after any version change: said in words instead of shown in each diff.
BOOKKEEPING = (("labels", VERSION_LABEL), ("annotations", HASH_ANNOTATION))
BOOKKEEPING_WORDS = "only its cni-operator.io/version label and applied-hash"
MAX_DIFF_LINES = 40  # per object; the rest is counted

CREATE, CHANGE, UNCHANGED, IGNORED = "create", "change", "unchanged", "ignored"
DELETE, KEEP = "delete", "keep"  # keep: a CRD that holds objects, released instead of deleted (a write too)


@dataclass
class ObjectChange:
    ref: ObjectRef
    action: str  # create | change | unchanged | ignored
    diff: list[str] = field(default_factory=list)  # unified diff lines of the differing fields (change)
    note: str = ""


@dataclass
class PruneStep:
    ref: ObjectRef
    action: str  # delete | keep | ignored
    why: str = ""  # for keep and ignored: in words


@dataclass
class Preview:
    refused: list[str] = field(default_factory=list)  # why the operator would write nothing at all
    notes: list[str] = field(default_factory=list)
    target: str = ""  # "canal v3.32.1"
    installed: str = ""  # "canal v3.31.4", or "" before a first install
    objects: list[ObjectChange] = field(default_factory=list)
    prune: list[PruneStep] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        """Whether applying the spec would change anything in the cluster."""
        return (any(o.action in (CREATE, CHANGE) for o in self.objects)
                or any(p.action in (DELETE, KEEP) for p in self.prune))

    def as_json(self) -> dict:
        return {
            "refused": self.refused,
            "notes": self.notes,
            "target": self.target,
            "installed": self.installed or None,
            "objects": [{**o.ref.as_status(), "action": o.action, **({"diff": o.diff} if o.diff else {}),
                         **({"note": o.note} if o.note else {})}
                        for o in self.objects],
            "prune": [{**p.ref.as_status(), "action": p.action, **({"why": p.why} if p.why else {})}
                      for p in self.prune],
            "differs": self.differs,
        }


# ---------------------------------------------------------------- comparison (pure)


def comparable(obj: dict | None) -> dict:
    """The object without what the API server keeps for itself: managedFields, resourceVersion, generation, uid,
    creationTimestamp, status."""
    out = copy.deepcopy(obj or {})
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    return out


def _only_differences(old: Any, new: Any) -> tuple[Any, Any]:
    """Both sides cut down to the fields that differ (dicts key by key; lists of the same length item by item,
    keeping an item's name so a reader knows which container it is)."""
    if isinstance(old, dict) and isinstance(new, dict):
        a, b = {}, {}
        for key in list(old) + [k for k in new if k not in old]:
            if old.get(key, _MISSING) == new.get(key, _MISSING):
                continue
            sub_a, sub_b = _only_differences(old.get(key, _MISSING), new.get(key, _MISSING))
            if sub_a is not _MISSING:
                a[key] = sub_a
            if sub_b is not _MISSING:
                b[key] = sub_b
        return _named(a, old), _named(b, new)
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = [_only_differences(x, y) for x, y in zip(old, new) if x != y]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return old, new


def _named(part: dict, whole: dict) -> dict:
    """The name first, so a reader knows which container or port a change is in."""
    if "name" not in whole or "name" in part:
        return part
    return {"name": whole["name"], **part}


_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>"})()


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(
    str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


def _yaml(value: Any) -> list[str]:
    if value is _MISSING or value == {}:
        return []
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120).splitlines()


def _without_bookkeeping(obj: dict) -> dict:
    meta = obj.get("metadata") or {}
    for where, key in BOOKKEEPING:
        (meta.get(where) or {}).pop(key, None)
    return obj


def object_diff(live: dict, result: dict, max_lines: int = MAX_DIFF_LINES) -> list[str]:
    """A unified diff of the fields that differ between the live object and what the apply would make of it
    (both without the API server's bookkeeping, nor our version label and hash); empty when they are the same. At
    most MAX_LINES lines, then one line saying how many more there are."""
    old, new = _only_differences(_without_bookkeeping(comparable(live)), _without_bookkeeping(comparable(result)))
    lines = list(difflib.unified_diff(_yaml(old), _yaml(new), "live", "after apply", n=3, lineterm=""))
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... {len(lines) - max_lines} more lines"]
    return lines


def compare(desired: dict, live: dict | None, dry_run) -> ObjectChange:
    """What the operator would do with one rendered object: nothing when it is ignored or the live object already
    holds every field we render (as the applier decides); otherwise the dry-run apply's answer, compared."""
    ref = ObjectRef.of(desired)
    if live is not None and is_ignored(live):
        return ObjectChange(ref, IGNORED)
    want = with_hash_annotation(desired)
    if live is not None and contains(want, live):
        return ObjectChange(ref, UNCHANGED)
    result = dry_run(want)
    if live is None:
        return ObjectChange(ref, CREATE)
    lines = object_diff(live, result)
    if lines:
        return ObjectChange(ref, CHANGE, lines)
    if comparable(live) != comparable(result):
        return ObjectChange(ref, CHANGE, note=BOOKKEEPING_WORDS)
    return ObjectChange(ref, UNCHANGED)  # the write would change nothing


def prune_candidates(inventory: list[ObjectRef], rendered: Rendered) -> list[ObjectRef]:
    """What a pass offers to prune, in the order it prunes: the trusted inventory and what other catalog versions
    render, minus what this render applies; workloads first, CRDs last."""
    wanted = {ObjectRef.of(obj) for obj in rendered.apply}
    candidates = dict.fromkeys([*inventory, *rendered.prune])
    return sorted((ref for ref in candidates if ref not in wanted), key=lambda r: kind_rank(r.kind), reverse=True)


def prune_step(ref: ObjectRef, live: dict | None, count) -> PruneStep | None:
    """What the prune would do to one candidate (None: nothing, as it is gone, not ours or going already). COUNT is
    called for a CRD only: how many objects of its kind exist, None when that may not be counted."""
    if live is None or not is_managed(live) or (live.get("metadata") or {}).get("deletionTimestamp"):
        return None
    if is_ignored(live):
        return PruneStep(ref, IGNORED, "cni-operator.io/ignore=true: left as it is")
    if ref.kind in NEVER_DELETED_KINDS:
        return PruneStep(ref, KEEP, "released: cni-operator never deletes an ENIConfig (nodes may still select it); "
                         "no longer labelled managed-by cni-operator, left as it is")
    if ref.kind == "CustomResourceDefinition" and catalog_never_owns(ref.name, live["metadata"]["labels"].get(
            PROVIDER_LABEL)):
        return PruneStep(ref, KEEP, "released: the provider's catalog says cni-operator never owns it (on EKS the "
                         "control plane does); no longer labelled managed-by cni-operator, never deleted")
    if ref.kind == "CustomResourceDefinition":
        held = count(live)
        if held != 0:
            if held is None:
                what = "its objects may not be counted"
            else:
                what = "1 object of its kind exists" if held == 1 else f"{held} objects of its kind exist"
            return PruneStep(ref, KEEP, f"kept: {what}; no longer labelled managed-by cni-operator, not deleted")
    return PruneStep(ref, DELETE)


# ---------------------------------------------------------------- against the cluster


def _problems(doc: Any, installed: tuple[str, str] | None) -> list[Problem]:
    """The problems `cni-operator validate` prints, with the installed version kept for a spec without one."""
    problems = validate_object(doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict) or installed is None:
        return problems
    return [p for p in problems if not p.field.startswith("spec")] + check(doc["spec"], installed).problems


def _safety(kube: Kube, spec: api.ClusterNetworkSpec) -> str | None:
    """The refusal of a first install next to a foreign CNI or on the wrong kind of cluster, as the operator's."""
    # DaemonSets in every namespace, as the operator watches them: a CNI lives where its installer put it.
    workloads = [*kube.list("apps/v1", "DaemonSet", ALL_NAMESPACES), *kube.list("apps/v1", "Deployment", CNI_NAMESPACE)]
    foreign = detect.foreign_cnis(workloads, spec.provider.value, inventory=())
    if foreign:
        names = ", ".join(f"{d.provider} ({d.workload})" for d in foreign)
        return f"ForeignCNIDetected: another CNI is already running: {names}; cni-operator will not install a second"
    mismatch = detect.cluster_type_mismatch(spec.cluster_type, workloads, kube.list("v1", "Node"))
    return f"ClusterTypeMismatch: {mismatch}" if mismatch else None


def _count(kube: Kube, crd: dict) -> int | None:
    try:
        return kube.count_instances(crd)
    except KubeError as exc:
        if exc.status != 403:
            raise
        return None  # the operator keeps a CRD it may not count; so does the preview


def preview(kube: Kube, doc: Any, policy: RegistryPolicy | None = None) -> Preview:
    """What the operator would do with the ClusterNetwork DOC (a parsed YAML document) on this cluster.
    POLICY: the operator's registry policy, when known (None: not checked). Raises KubeError on API trouble."""
    out = Preview()
    live_cr = kube.get(ObjectRef(f"{api.GROUP}/{api.VERSION}", api.KIND, api.SINGLETON_NAME))
    status = (live_cr or {}).get("status")
    installed = installed_version(status)
    out.installed = " ".join(installed) if installed else ""
    problems = _problems(doc, installed)
    if problems:
        out.refused = [f"invalid: {p}" for p in problems]
        return out
    checked = check(doc["spec"], installed)
    spec = checked.spec
    if spec.provider is None:
        out.notes.append(f"clusterType {spec.cluster_type.value}: the operator writes nothing here, it only "
                         "reports the health of the CNI it finds")
        return out
    out.target = f"{spec.provider.value} {spec.cni.version}"
    if installed and not (doc["spec"].get("cni") or {}).get("version"):
        out.notes.append(f"spec.cni.version is unset: the installed {out.installed} is kept")
    rendered = render(spec)
    if policy is not None:
        refused = refused_images(rendered.apply, policy)
        if refused:
            out.refused.append(f"RegistryNotAllowed: {refusal(spec, refused, policy)}")
            return out
    if spec.paused:
        out.notes.append("spec.paused is true: the operator writes nothing while paused; below is what it would do "
                         "once unpaused")
    inventory = read_inventory(status, trusted_refs(spec.provider, [ObjectRef.of(o) for o in rendered.apply],
                                                    rendered.prune))
    if inventory.ignored:
        out.notes.append(inventory.warning(spec.provider))
    if not inventory.trusted:
        blocked = _safety(kube, spec)
        if blocked:
            out.refused.append(blocked)
            return out
    out.objects = [compare(obj, kube.get(ObjectRef.of(obj)), kube.dry_run_apply) for obj in rendered.apply]
    for ref in prune_candidates(inventory.trusted, rendered):
        step = prune_step(ref, kube.get(ref), lambda crd: _count(kube, crd))
        if step is not None:
            out.prune.append(step)
    return out


# ---------------------------------------------------------------- for people


def format_text(result: Preview) -> str:
    lines: list[str] = []
    if result.refused:
        lines.append("the operator would refuse this spec and write nothing:")
        lines += [f"  {reason}" for reason in result.refused]
    head = f"{result.installed or 'nothing installed'} -> {result.target}" if result.target else ""
    if head:
        lines.append(f"{api.KIND} {api.SINGLETON_NAME}: {head}")
    lines += [f"note: {note}" for note in result.notes]
    counts = {action: sum(o.action == action for o in result.objects) for action in (CREATE, CHANGE, UNCHANGED,
                                                                                       IGNORED)}
    for change in result.objects:
        if change.action in (CREATE, CHANGE, IGNORED):
            label = {CREATE: "created", CHANGE: "changed", IGNORED: "ignored"}[change.action]
            lines.append(f"{label:9} {change.ref.describe()}" + (f" ({change.note})" if change.note else ""))
            lines += [f"    {line}" for line in change.diff]
    for step in result.prune:
        label = {DELETE: "pruned", KEEP: "released", IGNORED: "ignored"}[step.action]
        lines.append(f"{label:9} {step.ref.describe()}" + (f" ({step.why})" if step.why else ""))
    if result.target and not result.refused:
        deleted = sum(p.action == DELETE for p in result.prune)
        kept = sum(p.action == KEEP for p in result.prune)
        lines.append(f"{len(result.objects)} objects: {counts[CREATE]} created, {counts[CHANGE]} changed, "
                     f"{counts[UNCHANGED]} unchanged, {counts[IGNORED]} ignored; {deleted} pruned, {kept} released"
                     + ("" if result.differs else "; no differences"))
    return "\n".join(lines) + "\n"
