"""CRDs the CNI needs but cni-operator never installs (manifests/catalog.yaml neverOwn with neededWhen): report one
that is missing, never create it.

On EKS the control plane's network policy controller installs policyendpoints.networking.k8s.aws; with
awsVpcCni.enableNetworkPolicy the node agent watches PolicyEndpoints, and without the CRD its informer never syncs,
so no policy is enforced. The operator cannot fix that (the CRD is not its to write), but it can say so at once
instead of leaving the user to find aws-eks-nodeagent's errors on every node.

One GET per such CRD per ClusterNetwork generation (a changed spec asks again), not per pass: a pass otherwise reads
only the watch caches, and the answer changes only when someone installs the CRD.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from ..api import Provider
from ..catalog import Catalog, ForeignCRD, load_catalog
from ..events import WARNING
from ..kube import Kube
from ..objects import ObjectRef
from .announce import Announcer
from .inventory import provider_of

REASON = "RequiredCRDMissing"
_MEMORY = 64  # (uid, generation, CRD) answers kept

# The spec block holding each provider's options (neededWhen names an option in it).
OPTION_BLOCK = {Provider.AWS_VPC_CNI: "awsVpcCni", Provider.CANAL: "canal"}


def needed(spec: dict, provider: Provider | None, catalog: Catalog) -> list[ForeignCRD]:
    """The never-owned CRDs the spec's options make the CNI need (the raw, camelCase spec)."""
    if provider is None:
        return []
    options = spec.get(OPTION_BLOCK.get(provider, "")) or {}
    return [crd for crd in catalog.foreign_crds(provider)
            if crd.needed_when and isinstance(options, dict) and options.get(crd.needed_when) is True]


def missing_message(crd: ForeignCRD, provider: Provider) -> str:
    block = OPTION_BLOCK.get(provider, provider.value)
    return (f"{crd.name} is not installed: {crd.installed_by}. Until it is, {block}.{crd.needed_when} has no effect "
            f"(the CNI's agent cannot watch what does not exist); cni-operator never installs it.")


class ForeignCRDCheck:
    def __init__(self, kube: Kube, announcer: Announcer, catalog: Catalog | None = None):
        self.kube = kube
        self.announcer = announcer
        self.catalog = catalog
        self._asked: OrderedDict[tuple, bool] = OrderedDict()  # (uid, generation, CRD name) -> present

    async def check(self, cr: dict | None) -> list[str]:
        """Post a Warning Event for each needed CRD that is absent, once per generation; returns the absent names."""
        if cr is None or (cr.get("metadata") or {}).get("deletionTimestamp"):
            return []
        spec = cr.get("spec") or {}
        provider = provider_of(spec)
        catalog = self.catalog or load_catalog()
        absent = []
        for crd in needed(spec, provider, catalog):
            key = ((cr.get("metadata") or {}).get("uid"), (cr.get("metadata") or {}).get("generation"), crd.name)
            if key not in self._asked:
                live = await asyncio.to_thread(
                    self.kube.get, ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd.name))
                self._asked[key] = live is not None
                while len(self._asked) > _MEMORY:
                    self._asked.popitem(last=False)
                if live is None:
                    self.announcer.say(cr, WARNING, REASON, missing_message(crd, provider))
            if not self._asked[key]:
                absent.append(crd.name)
        return absent
