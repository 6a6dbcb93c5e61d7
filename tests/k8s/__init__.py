"""Kubernetes: the collector, deployer and gateway on a real Kubernetes API (the testbed, whose
pods run in the local dockerd, or `VIGIL_TEST_KUBECONFIG`'s cluster)."""
