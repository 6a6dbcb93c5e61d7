"""Kubernetes events worth an alert, as `AlertChanged` on `alerts.k8s`.

A `Warning` event about a pod whose reason says it is unwell (BackOff, OOMKilling,
FailedScheduling, Unhealthy...) raises one alert per pod and reason; the alert is
resolved when the pod is ready again or gone. Events older than a few minutes (a
fresh collector lists the last hour's) raise nothing. Pure: the caller passes
events and pod statuses (and adds the pod's last log lines to a raised alert).
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from vigil.messages import AlertChanged, AlertSource, AlertState, PodStatusChanged, utc_now

SOURCE = AlertSource.K8S
WORTH_AN_ALERT = frozenset(
    {
        "BackOff",
        "Failed",
        "FailedScheduling",
        "FailedMount",
        "FailedCreatePodSandBox",
        "OOMKilling",
        "Unhealthy",
        "Evicted",
    }
)
_RECENT = timedelta(minutes=5)


def pod_of(event: Mapping[str, Any]) -> tuple[str, str]:
    """The namespace and name of the pod an event is about."""
    involved = event.get("involvedObject") or {}
    return str(involved.get("namespace") or ""), str(involved.get("name") or "")


def _when(event: Mapping[str, Any]) -> datetime | None:
    stamp = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


class PodAlerts:
    def __init__(self, cluster: str) -> None:
        self._cluster = cluster
        self._raised: dict[tuple[str, str], dict[str, AlertChanged]] = {}  # pod -> reason

    def event(self, event: Mapping[str, Any]) -> AlertChanged | None:
        """The alert a new event raises, or None (not worth one, or raised already)."""
        involved = event.get("involvedObject") or {}
        reason = str(event.get("reason") or "")
        if event.get("type") != "Warning" or reason not in WORTH_AN_ALERT:
            return None
        if involved.get("kind") != "Pod":
            return None
        when = _when(event)
        if when is None or utc_now() - when > _RECENT:
            return None
        pod = pod_of(event)
        raised = self._raised.setdefault(pod, {})
        if reason in raised:
            return None
        alert = AlertChanged(
            id=f"k8s:{self._cluster}:{pod[0]}/{pod[1]}:{reason}",
            state=AlertState.RAISED,
            source=SOURCE,
            host=self._cluster,
            cluster=self._cluster,  # who may see it: the principals granted the cluster
            metric=reason,
            value=float(event.get("count") or 1),
            threshold=1.0,
            time=utc_now(),
            message=f"{pod[0]}/{pod[1]}: {event.get('message') or reason}"[:1000],
        )
        raised[reason] = alert
        return alert

    def pod_changed(self, status: PodStatusChanged) -> list[AlertChanged]:
        """The pod's alerts resolved, once it is ready again or gone."""
        if not status.ready and status.event != "deleted":
            return []
        raised = self._raised.pop((status.namespace, status.pod), {})
        why = "deleted" if status.event == "deleted" else "ready again"
        return [
            alert.model_copy(
                update={
                    "state": AlertState.RESOLVED,
                    "time": utc_now(),
                    "message": f"{status.namespace}/{status.pod} is {why}",
                    "log_lines": None,
                }
            )
            for alert in raised.values()
        ]
