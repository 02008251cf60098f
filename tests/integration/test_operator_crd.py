"""The ClusterNetwork CRD deleted and put back, as `kubectl delete -f manifests/install.yaml` and a re-install do.

kopf watches only the resources that exist when it starts, so the operator serving the CRD exits (code 3) with a
line saying why once the CRD is gone; the kubelet restarts it, and a process started without the CRD waits for it,
/healthz answering 503 meanwhile (a failing probe shows the pod cannot serve), then serves ClusterNetworks again.

The ClusterNetwork here has `deletionPolicy: Delete`, so it carries the operator's finalizer: deleting the CRD
deletes it, and the CRD only goes once the operator has removed the CNI and released the finalizer. The operator
must keep serving while the CRD is terminating.
"""

from __future__ import annotations

from tests.harness.clusternetwork import install
from tests.harness.managed import count_managed
from tests.harness.operator import install_crds

CRD = "clusternetworks.cni-operator.io"
MKS = {"clusterType": "mks"}


def test_the_crd_deleted_and_restored_is_served_again_by_a_restarted_operator(cluster, start_operator, cleanup,
                                                                               wait_for):
    operator = start_operator(health=True)
    install(cluster, {**MKS, "deletionPolicy": "Delete"})
    assert operator.healthz()[0] == 200
    cleanup.add(install_crds, cluster)  # whatever happens here, the next test finds the CRD

    assert cluster.kubectl("delete", "crd", CRD, "--wait=false").returncode == 0
    code = operator.exit_code(timeout=120)
    log = operator.log_tail(200)
    assert code == 3, log
    assert (f"the ClusterNetwork CRD {CRD} was deleted: exiting with code 3; a restarted operator waits for the CRD"
            in log), log
    assert "Traceback" not in log, log
    assert count_managed(cluster) == 0, "deletionPolicy Delete: the CNI goes with the ClusterNetwork"
    wait_for(lambda: cluster.kubectl("get", "crd", CRD, check=False).returncode != 0, timeout=60,
             what="the CRD to be gone")

    # What the kubelet does after the exit: start the operator again. It takes the Lease (the old one released it)
    # and waits for the CRD, failing its probe.
    restarted = start_operator(health=True)

    def not_serving() -> str:
        status, body = restarted.healthz()
        assert status == 503, (status, body)
        return body

    body = wait_for(not_serving, timeout=30, what="/healthz to answer 503 without the CRD")
    assert f"not serving: the ClusterNetwork CRD {CRD} is not installed" in body
    assert f"the ClusterNetwork CRD {CRD} is not installed; waiting for it" in restarted.log_tail()

    install_crds(cluster)
    wait_for(lambda: restarted.healthz()[0] == 200, timeout=30, what="/healthz to answer 200 with the CRD back")
    install(cluster, MKS)  # served: installed and Ready, without another restart
    assert restarted.alive()
