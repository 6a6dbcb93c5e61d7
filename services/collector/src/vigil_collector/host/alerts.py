"""Threshold alerts: a condition must hold for `hold_s` before it is raised or resolved.

The hold keeps a brief spike (or a brief dip) from flapping alerts. Pure logic: the
caller passes the time, so tests drive it without waiting.
"""

from dataclasses import dataclass, field

from vigil.messages import AlertChanged, AlertSource, AlertState, HostMetricsSampled, utc_now


@dataclass
class _Condition:
    over_since: float | None = None
    under_since: float | None = None
    raised: bool = False


@dataclass
class HostAlerts:
    cpu_percent: float
    memory_percent: float
    disk_percent: float
    hold_s: float
    _conditions: dict[str, _Condition] = field(default_factory=dict)

    def observe(self, sample: HostMetricsSampled, now: float) -> list[AlertChanged]:
        """Feed one sample at monotonic time `now`; return the alerts that changed."""
        figures = {"cpu": (sample.cpu.percent, self.cpu_percent)}
        figures["memory"] = (sample.memory.percent, self.memory_percent)
        for fs in sample.filesystems:
            figures[f"disk:{fs.mountpoint}"] = (fs.percent, self.disk_percent)

        changed = [
            self._alert(sample.host, metric, value, threshold, state)
            for metric, (value, threshold) in figures.items()
            if (state := self._step(metric, value > threshold, now)) is not None
        ]
        for metric in [m for m in self._conditions if m not in figures]:
            if self._conditions.pop(metric).raised:  # e.g. a filesystem unmounted
                changed.append(self._alert(sample.host, metric, 0.0, 0.0, AlertState.RESOLVED))
        return changed

    def _step(self, metric: str, over: bool, now: float) -> AlertState | None:
        cond = self._conditions.setdefault(metric, _Condition())
        if over:
            cond.under_since = None
            cond.over_since = now if cond.over_since is None else cond.over_since
            if not cond.raised and now - cond.over_since >= self.hold_s:
                cond.raised = True
                return AlertState.RAISED
        else:
            cond.over_since = None
            if cond.raised:
                cond.under_since = now if cond.under_since is None else cond.under_since
                if now - cond.under_since >= self.hold_s:
                    cond.raised = False
                    return AlertState.RESOLVED
        return None

    @staticmethod
    def _alert(
        host: str, metric: str, value: float, threshold: float, state: AlertState
    ) -> AlertChanged:
        verb = "above" if state is AlertState.RAISED else "back under"
        return AlertChanged(
            id=f"host:{host}:{metric}",
            state=state,
            source=AlertSource.HOST,
            host=host,
            metric=metric,
            value=value,
            threshold=threshold,
            time=utc_now(),
            message=f"{metric} on {host} is {verb} {threshold:g}% ({value:.1f}%)",
        )
