"""Threshold alerts hold before they are raised or resolved, so spikes do not flap."""

from tests.support import host_sample as sample
from vigil.messages import AlertState
from vigil_collector.alerts import HostAlerts


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
