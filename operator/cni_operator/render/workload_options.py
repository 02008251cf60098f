"""spec.workloads over the rendered objects: placement, size and env of the CNI's pods (api/workloads.py).

A pure post-render step, so the templates stay upstream's line for line and a spec without `workloads` renders the
very objects it rendered before (goldens, tests/unit/test_upstream_fidelity.py). What it changes, and nothing else:

    daemonSet.tolerations            appended to the DaemonSet's (one already there is not added twice)
    daemonSet.priorityClassName      the DaemonSet's pod priorityClassName
    controllers.nodeSelector         merged into the Deployment's (upstream's kubernetes.io/os: linux stays)
    controllers.affinity             the Deployment's pod affinity (upstream sets none)
    controllers.priorityClassName    the Deployment's pod priorityClassName
    containers[].resources           replace that container's resources (init containers too)
    containers[].env                 replace the value of upstream's variable of that name, or are appended

Admission already refused container names of the other provider; a name the rendered version does not have (a
future catalog version dropping a container) raises WorkloadOptionsError naming the containers that exist.
"""

from __future__ import annotations

import copy

from ..api.workloads import ContainerOptions, WorkloadOptions


class WorkloadOptionsError(ValueError):
    """spec.workloads names something this provider and version does not render."""


def _pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def _containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _dump(model) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")


def _apply_container(container: dict, options: ContainerOptions) -> None:
    if options.resources is not None:
        container["resources"] = _dump(options.resources)
    if options.env:
        env = container.setdefault("env", [])
        index = {entry["name"]: i for i, entry in enumerate(env)}
        for var in options.env:
            entry = {"name": var.name, "value": var.value}
            if var.name in index:
                env[index[var.name]] = entry  # upstream's value (or valueFrom) gives way to the user's
            else:
                env.append(entry)


def apply(objects: list[dict], workloads: WorkloadOptions | None) -> list[dict]:
    """The objects with spec.workloads applied; the same list, untouched, when it is unset. Workloads that change
    are copied first (the input may be shared with a cache)."""
    if workloads is None:
        return objects
    out = []
    seen: set[str] = set()
    wanted = {c.name.value: c for c in workloads.containers}
    for obj in objects:
        kind = obj.get("kind")
        if kind not in ("DaemonSet", "Deployment"):
            out.append(obj)
            continue
        obj = copy.deepcopy(obj)
        pod = _pod_spec(obj)
        if kind == "DaemonSet" and workloads.daemon_set is not None:
            options = workloads.daemon_set
            tolerations = pod.setdefault("tolerations", [])
            for toleration in options.tolerations:
                entry = _dump(toleration)
                if entry not in tolerations:
                    tolerations.append(entry)
            if options.priority_class_name:
                pod["priorityClassName"] = options.priority_class_name
        if kind == "Deployment" and workloads.controllers is not None:
            options = workloads.controllers
            if options.node_selector:
                pod["nodeSelector"] = {**pod.get("nodeSelector", {}), **options.node_selector}
            if options.affinity is not None and options.affinity.node_affinity is not None:
                pod["affinity"] = _dump(options.affinity)
            if options.priority_class_name:
                pod["priorityClassName"] = options.priority_class_name
        for container in _containers(pod):
            seen.add(container["name"])
            if container["name"] in wanted:
                _apply_container(container, wanted[container["name"]])
        out.append(obj)
    missing = sorted(set(wanted) - seen)
    if missing:
        raise WorkloadOptionsError(
            f"spec.workloads.containers names {', '.join(missing)}, which this CNI version does not run; "
            f"its containers are: {', '.join(sorted(seen)) or 'none'}"
        )
    return out
