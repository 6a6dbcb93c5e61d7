"""A Kubernetes alert names its cluster (the gateway shows it to that cluster's grant
only). (The host thresholds are the alerter's default rules: `test_rule_evaluation`.)"""

from vigil.messages import AlertChanged, AlertState, PodStatusChanged, utc_now
from vigil_collector.kubernetes.pod_alerts import PodAlerts


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
