"""Image references: put a registry in front of one, or read its tag. The one place that knows their grammar.

The first path component of a reference is a registry when it has a dot or a port, or is localhost (the rule container
runtimes use); otherwise the reference has no registry (docker.io/library is implied).
"""

from __future__ import annotations

# Where an image without a registry comes from (the runtimes' default, Docker Hub).
DOCKER_HUB = "docker.io"


def _split_registry(image: str) -> tuple[str, str]:
    """('quay.io', 'calico/node:v3.32.1') for 'quay.io/calico/node:v3.32.1'; ('', image) without a registry."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", image


def with_registry(image: str, registry: str) -> str:
    """`image` pulled from `registry` (a host[:port][/path] mirror) instead of its own; "" keeps it as it is.

        docker.io/flannel/flannel:v0.24.4  + mirror.local:5000 -> mirror.local:5000/flannel/flannel:v0.24.4
        quay.io/calico/node:v3.32.1        + mirror.local      -> mirror.local/calico/node:v3.32.1
        amazon-k8s-cni:v1.23.1             + mirror.local/eks  -> mirror.local/eks/amazon-k8s-cni:v1.23.1
    """
    if not registry:
        return image
    return f"{registry.rstrip('/')}/{_split_registry(image)[1]}"


def locate(image: str) -> tuple[str, str]:
    """(registry host[:port], repository path) an image is pulled from, as a container runtime resolves it:

        quay.io/calico/node:v3.32.1         -> ('quay.io', 'calico/node')
        mirror.local:5000/cni/node@sha256:. -> ('mirror.local:5000', 'cni/node')
        flannel/flannel:v0.24.4             -> ('docker.io', 'flannel/flannel')
        busybox                             -> ('docker.io', 'library/busybox')

    The host is lower-cased (host names are case-insensitive); tag and digest are dropped.
    """
    registry, rest = _split_registry((image or "").strip())
    repository = rest.partition("@")[0]
    last_slash = repository.rfind("/")
    colon = repository.rfind(":")
    if colon > last_slash:  # a tag, not a port (the registry and its port are split off already)
        repository = repository[:colon]
    registry = (registry or DOCKER_HUB).lower()
    if registry == DOCKER_HUB and "/" not in repository:  # Docker Hub's official images live under library/
        repository = f"library/{repository}"
    return registry, repository


def image_tag(image: str) -> str:
    """The tag of an image reference: 'quay.io:443/calico/node:v3.32.1@sha256:...' -> 'v3.32.1'.

    Digest only -> 'sha256:' + the first 12 hex digits; no tag and no digest -> 'latest' (what the runtime pulls).
    """
    image = (image or "").strip()
    if not image:
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]  # a registry port ('host:5000/') sits before the last slash
    if ":" in last:
        return last.rsplit(":", 1)[1]
    if digest:
        algo, _, hexpart = digest.partition(":")
        return f"{algo}:{hexpart[:12]}" if hexpart else digest
    return "latest"
