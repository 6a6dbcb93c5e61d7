"""Who is behind a host's CPU or memory alert: its busiest containers at that moment.

A host rule's alert on `cpu_percent` or `memory_percent`, raised, names the top
containers of the host's newest Docker stats batch (if it is recent: a batch older than
a few Docker intervals says nothing of now), by the figure the alert is about, and its
message says so. Other metrics and resolutions name no one.
"""

from vigil.messages import AlertChanged, AlertState, Culprit, DockerStatsSampled, Metric, utc_now

TOP = 3
_FRESH_INTERVALS = 3  # a batch older than this many of its intervals is too old
_NAMED = (Metric.CPU_PERCENT.value, Metric.MEMORY_PERCENT.value)


def with_culprits(alert: AlertChanged, batch: DockerStatsSampled | None) -> AlertChanged:
    """`alert` (of a host) with its culprits (and said in its message), or as it is."""
    if alert.state is not AlertState.RAISED or alert.metric not in _NAMED:
        return alert
    if batch is None or not batch.containers:
        return alert
    age_s = (utc_now() - batch.time).total_seconds()
    if age_s > _FRESH_INTERVALS * batch.interval_s:
        return alert
    by_cpu = alert.metric == Metric.CPU_PERCENT.value
    busiest = sorted(
        batch.containers,
        key=lambda c: c.cpu_percent if by_cpu else c.memory_usage,
        reverse=True,
    )[:TOP]
    culprits = [
        Culprit(name=c.name, id=c.id, cpu_percent=c.cpu_percent, memory_bytes=c.memory_usage)
        for c in busiest
    ]
    said = ", ".join(_figure(c, by_cpu) for c in culprits)
    return alert.model_copy(
        update={"culprits": culprits, "message": f"{alert.message}; busiest: {said}"}
    )


def _figure(culprit: Culprit, by_cpu: bool) -> str:
    if by_cpu:
        return f"{culprit.name} {culprit.cpu_percent:.0f}%"
    return f"{culprit.name} {culprit.memory_bytes / 2**20:.0f} MiB"
