"""Node coverage: which nodes run a Ready CNI pod. Pure functions over node and pod facts (or dicts)."""

from __future__ import annotations

from collections.abc import Iterable

from ..api import NodeCounts
from .facts import NodeFacts, PodFacts, node_facts, pod_facts
from .problems import natural_key

MAX_NODE_NAMES = 10  # nodes named in status.health.nodes.withoutReadyCNI and in messages


def coverage(nodes: Iterable[NodeFacts | dict],
             pods: Iterable[PodFacts | dict]) -> tuple[dict[str, NodeFacts], set[str]]:
    """(nodes by name, names of the nodes with a Ready, not terminating, CNI pod)."""
    by_name = {n.name: n for n in map(node_facts, nodes) if n.name}
    covered = {p.node for p in map(pod_facts, pods) if p.is_ready} & by_name.keys()
    return by_name, covered


def counts(by_name: dict[str, NodeFacts], covered: set[str]) -> NodeCounts:
    without = sorted(by_name.keys() - covered, key=natural_key)
    return NodeCounts(total=len(by_name), with_ready_cni=len(covered), without_ready_cni=without[:MAX_NODE_NAMES])


def node_coverage(nodes: Iterable[NodeFacts | dict], pods: Iterable[PodFacts | dict]) -> NodeCounts:
    """Nodes in total vs nodes running a Ready (not terminating) CNI pod; names up to 10 without one, n2 before n10."""
    return counts(*coverage(nodes, pods))


def describe_coverage(nodes: NodeCounts, cni: str) -> str:
    """'2 of 3 nodes have no ready canal pod: n2, n3' ('' when every node has one)."""
    lacking = nodes.total - nodes.with_ready_cni
    if lacking <= 0:
        return ""
    if not nodes.without_ready_cni:  # counted by the DaemonSet: its pods are not read (evidence.gather)
        return f"{lacking} of {nodes.total} node{'s' if nodes.total > 1 else ''} " \
               f"{'has' if lacking == 1 else 'have'} no ready {cni} pod (its DaemonSet's count)"
    names = ", ".join(nodes.without_ready_cni)
    more = lacking - len(nodes.without_ready_cni)
    names += f" and {more} more" if more > 0 else ""
    return f"{lacking} of {nodes.total} node{'s' if nodes.total > 1 else ''} " \
           f"{'has' if lacking == 1 else 'have'} no ready {cni} pod: {names}"


def names(items: list[str]) -> str:
    """'n1, n2 and 3 more' (at most MAX_NODE_NAMES names)."""
    more = len(items) - MAX_NODE_NAMES
    return ", ".join(items[:MAX_NODE_NAMES]) + (f" and {more} more" if more > 0 else "")
