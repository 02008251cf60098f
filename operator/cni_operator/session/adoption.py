"""spec.adoption: what the first install does with objects it renders that exist already and are not the operator's.

A hand-installed canal (`kubectl apply -f canal.yaml`), the aws-node EKS ships, a Calico CRD someone created: such an
object has a name the render uses and no managed-by label. Server-side apply with force would take it over silently,
whatever it runs, so the first install (empty inventory, as the foreign-CNI check) decides by the policy first:

    IfEquivalent  take them over only when the apply changes no pod template of a workload among them (no pod
    (default)     restarts); otherwise AdoptionBlocked naming the differences, and nothing written
    Takeover      take them over; a workload whose template changes is updated by the rollout (canary, soak,
                  batches), starting from what runs: status.rollout.from is its version, and fromSpec the spec
                  whose render has the same pod templates, when the catalog has one (else no rollback: UpgradeFailed)
    Never         AdoptionRefused naming them, nothing written

The judge of "changes no pod template" is the API server itself: a server-side apply dry run of the render (our
field manager, force, as the real apply) against each existing DaemonSet and Deployment, comparing spec.template
before and after. It sees what the write would do, defaults and other managers' fields included, and it runs before
any write. The DaemonSet is rendered OnDelete, so a template change would not restart pods by itself, but the
operator's rollout would: this check is what keeps IfEquivalent at zero restarts.

Adopted objects carry the annotation cni-operator.io/adopted and are listed in status.adopted; prune and
deletionPolicy Delete leave them in place (apply/), released from our labels when no render wants them any more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .. import api
from ..api import AdoptionPolicy
from ..apply.diff import with_hash_annotation
from ..catalog import load_catalog
from ..events import WARNING
from ..health import Reason
from ..images import image_tag
from ..kube import Kube, KubeError
from ..objects import ADOPTED_ANNOTATION, ObjectRef, is_adopted, is_managed
from ..providers import for_provider
from ..render import Rendered, render
from ..validation import check
from .announce import Announcer
from .upgrade import effective_spec

MAX_DIFFERENCES = 8  # template differences named in a message
MAX_NAMED = 6  # objects named in a message
WORKLOAD_KINDS = ("DaemonSet", "Deployment")
UNSET = "unset"


@dataclass(frozen=True)
class Judged:
    """One existing workload, judged by a dry run of the render against it."""

    ref: ObjectRef
    changes: list[str] = field(default_factory=list)  # what the apply would change in its pod template, in words
    error: str | None = None  # the API server refused the dry run: the real apply would fail too


@dataclass(frozen=True)
class Start:
    """Where a Takeover's update starts: the version that runs, the spec whose render has its pod templates (None:
    the catalog has none, so no rollback), and the live DaemonSet (not in the managed cache yet)."""

    version: str
    spec: str | None
    daemonset: dict | None


@dataclass
class Decision:
    adopt: list[ObjectRef] = field(default_factory=list)  # taken over: annotated, recorded, never pruned
    refusal: tuple[str, str] | None = None  # (reason, message): nothing is written
    start: Start | None = None  # a Takeover whose templates change: the rollout's starting point


# ---------------------------------------------------------------- pure


def _short(value: Any) -> str:
    text = UNSET if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def template_changes(before: Any, after: Any, path: str = ".spec.template") -> list[str]:
    """Every field that differs between two pod templates, as 'path (before -> after)'. List items with a name
    (containers, env, volumes) are named by it."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            found += template_changes(before.get(key), after.get(key), f"{path}.{key}")
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for index, (old, new) in enumerate(zip(before, after)):
            name = old.get("name") if isinstance(old, dict) and old.get("name") == (new or {}).get("name") else None
            found += template_changes(old, new, f"{path}[{name or index}]")
        return found
    if before == after:
        return []
    if isinstance(before, list) and isinstance(after, list):
        return [f"{path} ({len(before)} -> {len(after)} items)"]
    return [f"{path} ({_short(before)} -> {_short(after)})"]


def running_version(workload: dict | None, container: str) -> str:
    """The version a CNI workload runs: its main container's image tag ('' when unknown)."""
    spec = (((workload or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or []
    main = next((c for c in containers if c.get("name") == container), containers[0] if containers else {})
    return image_tag(main.get("image") or "")


def _named(refs: list[ObjectRef]) -> str:
    more = len(refs) - MAX_NAMED
    return ", ".join(r.describe() for r in refs[:MAX_NAMED]) + (f" and {more} more" if more > 0 else "")


def decide(policy: AdoptionPolicy, found: list[ObjectRef], judged: list[Judged], *, provider: str,
           running: str, wanted: str) -> Decision:
    """The adoption decision of a first install: FOUND are the rendered objects that exist and are not ours, JUDGED
    the existing workloads among them, RUNNING the version they run ('' unknown), WANTED the spec's."""
    if not found:
        return Decision()
    what = f"{provider} {running}".strip() if any(j.ref.kind in WORKLOAD_KINDS for j in judged) else "objects"
    if policy is AdoptionPolicy.NEVER:
        return Decision(refusal=(str(Reason.ADOPTION_REFUSED), (
            f"{len(found)} objects this ClusterNetwork renders exist already, not installed by cni-operator "
            f"({what}): {_named(found)}. spec.adoption is Never, so nothing was written. Remove them to let the "
            f"operator install its own, or set adoption: IfEquivalent (take them over when no pod restarts) or "
            f"Takeover (take them over and update them with spec.rollout).")))
    errors = [j for j in judged if j.error]
    if errors:
        return Decision(refusal=(str(Reason.ADOPTION_BLOCKED), (
            f"the API server refuses to apply the render over the existing {what}, so nothing was written: "
            + "; ".join(f"{j.ref.describe()}: {j.error}" for j in errors)
            + ". Remove the existing objects, or change the spec so it fits them.")))
    changed = [j for j in judged if j.changes]
    if not changed:
        return Decision(adopt=list(found))
    if policy is AdoptionPolicy.TAKEOVER:
        return Decision(adopt=list(found), start=Start(version=running, spec=None, daemonset=None))
    differences = [f"version {running or 'unknown'} runs, the spec asks for {wanted}"] if running != wanted else []
    for judgement in changed:
        differences += [f"{judgement.ref.describe()}: {change}" for change in judgement.changes]
    more = len(differences) - MAX_DIFFERENCES
    listed = "; ".join(differences[:MAX_DIFFERENCES]) + (f"; and {more} more" if more > 0 else "")
    match = f"cni.version: {running} and options that match it" if running and running != wanted else \
        "options (registry, canal/awsVpcCni) that match it"
    return Decision(refusal=(str(Reason.ADOPTION_BLOCKED), (
        f"{what} is installed already, not by cni-operator, and taking it over would change its pod templates "
        f"(its pods would restart): {listed}. Nothing was written. To take it over as it is, set {match}; to take it "
        f"over and update it through spec.rollout (canary, soak, batches), set adoption: Takeover; or remove it.")))


def adopted_refs(status: dict | None, trusted: frozenset[ObjectRef]) -> set[ObjectRef]:
    """status.adopted, as far as it names objects the catalog renders (status is not taken on trust)."""
    refs = set()
    for item in (status or {}).get("adopted") or []:
        if isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("apiVersion", "kind", "name")):
            ref = ObjectRef(item["apiVersion"], item["kind"], item["name"], str(item.get("namespace") or ""))
            if ref in trusted:
                refs.add(ref)
    return refs


def marked(rendered: Rendered, adopted: set[ObjectRef]) -> Rendered:
    """The render with the adopted annotation on every adopted object (server-side apply would drop a field we
    owned and stopped sending, so each pass sends it again)."""
    if not adopted:
        return rendered
    out = []
    for obj in rendered.apply:
        if ObjectRef.of(obj) in adopted:
            obj = json.loads(json.dumps(obj))
            obj.setdefault("metadata", {}).setdefault("annotations", {})[ADOPTED_ANNOTATION] = "true"
        out.append(obj)
    return dataclasses.replace(rendered, apply=out)


# ---------------------------------------------------------------- against the cluster


class Adopter:
    """The reconciler's side: look at what exists before a first install, dry-run, decide, and say so."""

    def __init__(self, kube: Kube, announcer: Announcer, lookup: Callable[[ObjectRef], dict | None]):
        self.kube, self.announcer, self.lookup = kube, announcer, lookup

    def _judge(self, desired: dict, live: dict) -> Judged:
        ref = ObjectRef.of(desired)
        try:
            after = self.kube.dry_run_apply(with_hash_annotation(desired))
        except KubeError as exc:
            return Judged(ref, error=str(exc))
        return Judged(ref, template_changes((live.get("spec") or {}).get("template"),
                                            (after.get("spec") or {}).get("template")))

    def _examine(self, spec: api.ClusterNetworkSpec, rendered: Rendered) -> Decision:
        found, judged, workloads = [], [], {}
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="adoption") as pool:  # one GET per object
            lives = list(pool.map(lambda obj: self.kube.get(ObjectRef.of(obj)), rendered.apply))
        for desired, live in zip(rendered.apply, lives):
            ref = ObjectRef.of(desired)
            if live is None or is_managed(live):
                continue  # absent, or ours already (an earlier ClusterNetwork's, deleted with Orphan)
            found.append(ref)
            if ref.kind in WORKLOAD_KINDS:
                workloads[ref] = live
                judged.append(self._judge(desired, live))
        cni = for_provider(spec.provider)
        daemonset = next((w for r, w in workloads.items() if r.kind == "DaemonSet" and r.name == cni.daemonset), None)
        running = running_version(daemonset, cni.main_container) if daemonset else ""
        decision = decide(spec.adoption, found, judged, provider=spec.provider.value, running=running,
                          wanted=spec.cni.version or "")
        if decision.start is not None:
            decision.start = Start(running, self._starting_spec(spec, running, workloads), daemonset)
        return decision

    def _starting_spec(self, spec: api.ClusterNetworkSpec, running: str, workloads: dict[ObjectRef, dict]) -> str | None:
        """The spec whose render has exactly the pod templates that run (the spec with the running version), or
        None: what a rollback of the Takeover's update applies."""
        if running not in load_catalog().versions(spec.provider):
            return None
        raw = json.loads(effective_spec(spec))
        raw["cni"]["version"] = running
        previous = check(raw)
        if not previous.ok:
            return None
        for desired in render(previous.spec).apply:
            live = workloads.get(ObjectRef.of(desired))
            if live is not None and self._judge(desired, live).changes:
                return None
        return effective_spec(previous.spec)

    async def first_install(self, cr: dict, spec: api.ClusterNetworkSpec, rendered: Rendered,
                            inventory: list[ObjectRef]) -> Decision | None:
        """The decision for a first install (None once something is installed); a refusal is also a Warning."""
        if inventory:
            return None
        decision = await asyncio.to_thread(self._examine, spec, rendered)
        if decision.refusal:
            self.announcer.say(cr, WARNING, *decision.refusal)
        return decision

    def adopted(self, cr: dict, rendered: Rendered, trusted: frozenset[ObjectRef],
                decision: Decision | None) -> set[ObjectRef]:
        """What this pass treats as adopted: this pass's adoption, status.adopted, and rendered objects whose live
        copy carries the annotation."""
        refs = adopted_refs(cr.get("status"), trusted) | set(decision.adopt if decision else ())
        return refs | {ObjectRef.of(o) for o in rendered.apply if is_adopted(self.lookup(ObjectRef.of(o)))}
