"""Threshold alerts hold before they are raised or resolved, so spikes do not flap; a
Kubernetes alert names its cluster (the gateway shows it to that cluster's grant only)."""

from tests.support import host_sample as sample
from vigil.messages import AlertChanged, AlertState, PodStatusChanged, utc_now
from vigil_collector.host.alerts import HostAlerts
from vigil_collector.kubernetes.pod_alerts import PodAlerts


def watch(hold_s: float = 30.0) -> HostAlerts:
    return HostAlerts(cpu_percent=90, memory_percent=80, disk_percent=95, hold_s=hold_s)


def test_a_spike_shorter_than_the_hold_raises_nothing() -> None:
    alerts = watch()
    assert alerts.observe(sample(cpu=99), now=0) == []
    assert alerts.observe(sample(cpu=99), now=20) == []
    assert alerts.observe(sample(cpu=5), now=25) == []
    assert alerts.observe(sample(cpu=99), now=40) == []


def test_raised_after_the_hold_then_resolved_after_the_hold() -> None:
    alerts = watch()
    alerts.observe(sample(cpu=99), now=0)
    [raised] = alerts.observe(sample(cpu=99), now=30)
    assert (raised.state, raised.metric, raised.value) == (AlertState.RAISED, "cpu", 99)
    assert raised.id == "host:h1:cpu"
    assert "above 90%" in raised.message
    assert alerts.observe(sample(cpu=99), now=40) == []  # raised once, not every sample
    assert alerts.observe(sample(cpu=10), now=50) == []
    [resolved] = alerts.observe(sample(cpu=10), now=80)
    assert (resolved.state, resolved.id) == (AlertState.RESOLVED, "host:h1:cpu")


def test_each_filesystem_is_its_own_condition() -> None:
    alerts = watch(hold_s=0)
    changed = alerts.observe(sample(memory=85, disks={"/": 96, "/data": 50}), now=0)
    assert sorted(a.metric for a in changed) == ["disk:/", "memory"]


def test_a_raised_filesystem_that_disappears_is_resolved() -> None:
    alerts = watch(hold_s=0)
    alerts.observe(sample(disks={"/": 10, "/mnt": 99}), now=0)
    [resolved] = alerts.observe(sample(disks={"/": 10}), now=1)
    assert (resolved.metric, resolved.state) == ("disk:/mnt", AlertState.RESOLVED)


def test_a_pods_alert_names_its_cluster_so_only_its_grant_sees_it() -> None:
    alerts = PodAlerts("prod")
    event = {
        "type": "Warning",
        "reason": "BackOff",
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-1"},
        "lastTimestamp": utc_now().isoformat(),
        "message": "Back-off restarting failed container",
    }
    raised = alerts.event(event)
    assert raised is not None
    assert raised.cluster == "prod"
    status = PodStatusChanged.model_validate(
        {
            "cluster": "prod",
            "namespace": "shop",
            "pod": "web-1",
            "event": "deleted",
            "phase": "Running",
            "ready": False,
            "restarts": 0,
            "containers": [],
            "resource_version": "",
            "time": utc_now(),
        }
    )
    [resolved] = alerts.pod_changed(status)
    assert (resolved.state, resolved.cluster) == (AlertState.RESOLVED, "prod")


def test_a_kubernetes_alert_of_an_older_collector_is_taken_as_its_clusters() -> None:
    older = {
        "id": "k8s:prod:shop/web-1:BackOff",
        "state": "raised",
        "source": "k8s",
        "host": "prod",
        "metric": "BackOff",
        "value": 1.0,
        "threshold": 1.0,
        "time": utc_now().isoformat(),
        "message": "shop/web-1: Back-off",
    }
    assert AlertChanged.model_validate(older).cluster == "prod"
    host_alert = AlertChanged.model_validate(older | {"source": "host", "id": "host:h1:cpu"})
    assert host_alert.cluster is None
