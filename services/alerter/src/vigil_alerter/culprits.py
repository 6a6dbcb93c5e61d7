"""Who is behind a host's CPU or memory alert: its busiest containers and processes at
that moment.

A host rule's alert on `cpu_percent` or `memory_percent`, raised, names the top
containers of the host's newest Docker stats batch (if it is recent: a batch older than
a few Docker intervals says nothing of now) and the top processes of the host sample
that raised it (where the collector sees them), by the figure the alert is about, and
its message says so. Other metrics and resolutions name no one.
"""

from vigil.messages import (
    AlertChanged,
    AlertState,
    Culprit,
    DockerStatsSampled,
    Metric,
    ProcessUsage,
    utc_now,
)

TOP = 3
_FRESH_INTERVALS = 3  # a batch older than this many of its intervals is too old
_NAMED = (Metric.CPU_PERCENT.value, Metric.MEMORY_PERCENT.value)


def with_culprits(
    alert: AlertChanged,
    batch: DockerStatsSampled | None,
    processes: list[ProcessUsage] | None = None,
) -> AlertChanged:
    """`alert` (of a host) with its culprits (and said in its message), or as it is."""
    if alert.state is not AlertState.RAISED or alert.metric not in _NAMED:
        return alert
    by_cpu = alert.metric == Metric.CPU_PERCENT.value
    culprits = _containers(batch, by_cpu) + _processes(processes or [], by_cpu)
    if not culprits:
        return alert
    said = ", ".join(_figure(c, by_cpu) for c in culprits)
    return alert.model_copy(
        update={"culprits": culprits, "message": f"{alert.message}; busiest: {said}"}
    )


def _containers(batch: DockerStatsSampled | None, by_cpu: bool) -> list[Culprit]:
    if batch is None or not batch.containers:
        return []
    age_s = (utc_now() - batch.time).total_seconds()
    if age_s > _FRESH_INTERVALS * batch.interval_s:
        return []
    busiest = sorted(
        batch.containers,
        key=lambda c: c.cpu_percent if by_cpu else c.memory_usage,
        reverse=True,
    )[:TOP]
    return [
        Culprit(name=c.name, id=c.id, cpu_percent=c.cpu_percent, memory_bytes=c.memory_usage)
        for c in busiest
    ]


def _processes(processes: list[ProcessUsage], by_cpu: bool) -> list[Culprit]:
    busiest = sorted(
        processes, key=lambda p: p.cpu_percent if by_cpu else p.memory_bytes, reverse=True
    )[:TOP]
    return [
        Culprit(
            kind="process",
            name=p.name,
            id=str(p.pid),
            cpu_percent=p.cpu_percent,
            memory_bytes=p.memory_bytes,
        )
        for p in busiest
    ]


def _figure(culprit: Culprit, by_cpu: bool) -> str:
    who = culprit.name if culprit.kind == "container" else f"{culprit.name} (pid {culprit.id})"
    if by_cpu:
        return f"{who} {culprit.cpu_percent:.0f}%"
    return f"{who} {culprit.memory_bytes / 2**20:.0f} MiB"
