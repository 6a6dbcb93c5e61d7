"""What the collector publishes about a machine: samples and threshold alerts."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from vigil.messages.common import omitted_when_none
from vigil.messages.proposals import ProposedAction
from vigil.model import Message
from vigil.names import ClusterName, HostName, SourceName


class CpuUsage(Message):
    percent: float = Field(description="All cores, 0-100.")
    per_core: list[float] = Field(description="One 0-100 figure per logical core.")


class LoadAverage(Message):
    one: float
    five: float
    fifteen: float


class MemoryUsage(Message):
    total: int = Field(description="Bytes.")
    available: int
    used: int
    percent: float


class SwapUsage(Message):
    total: int
    used: int
    percent: float


class FilesystemUsage(Message):
    mountpoint: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float


class DiskIoRates(Message):
    read_bytes_per_s: float
    write_bytes_per_s: float
    read_ops_per_s: float
    write_ops_per_s: float


class NetworkRates(Message):
    rx_bytes_per_s: float
    tx_bytes_per_s: float
    rx_packets_per_s: float
    tx_packets_per_s: float
    rx_bytes_total: int
    tx_bytes_total: int


class ProcessUsage(Message):
    """A process among a host's busiest (by CPU or by memory) at a sample."""

    pid: int
    name: str
    cpu_percent: float = Field(description="Over the last interval; 100 = one CPU.")
    memory_bytes: int = Field(description="Resident.")


class HostMetricsSampled(Message):
    """One sample of a host, on `metrics.host.{host}`. Rates are over the last interval."""

    host: HostName
    time: datetime
    interval_s: float
    cpu: CpuUsage
    load: LoadAverage
    memory: MemoryUsage
    swap: SwapUsage
    filesystems: list[FilesystemUsage]
    disk_io: DiskIoRates
    network: NetworkRates
    uptime_s: float
    processes: list[ProcessUsage] | None = omitted_when_none(
        "The busiest processes by CPU and the largest by memory (`VIGIL_COLLECTOR_TOP_"
        "PROCESSES` of each), where the collector sees the host's: a host alert's culprits."
    )


class AlertState(StrEnum):
    RAISED = "raised"
    RESOLVED = "resolved"


class AlertSource(StrEnum):
    """What raises alerts, each on `alerts.{source}` (and may publish only there)."""

    HOST = "host"  # the collector's host thresholds, before they were default rules
    K8S = "k8s"  # the collector's Kubernetes warnings
    GATEWAY = "gateway"  # the gateway on itself, before its thresholds were default rules
    RULE = "rule"  # the alerter's rules


class Culprit(Message):
    """A container (or a process) among the busiest of its host when a host alert was
    raised."""

    kind: Literal["container", "process"] = "container"
    name: str
    id: str = Field(description="The short container id, or the process's pid.")
    cpu_percent: float = Field(description="100 = one CPU.")
    memory_bytes: int


class Acknowledgement(Message):
    """Who acknowledged a raised alert, when, and what they said."""

    by: str
    note: str = Field(default="", max_length=1000)
    time: datetime


class AlertChanged(Message):
    """A threshold alert raised or resolved, on `alerts.{source}`."""

    id: str = Field(
        description="Stable per condition, e.g. 'rule:defa017000000003:host:web1' (a rule's)."
    )
    state: AlertState
    source: SourceName = Field(description="What raised it: an `AlertSource`.")
    host: HostName
    metric: str = Field(
        description="A rule's metric ('cpu_percent'...), status event, 'log' or 'stale'; a"
        " Kubernetes warning's reason; (host alerts before rules: 'cpu', 'memory', 'disk:/')."
    )
    value: float
    threshold: float
    time: datetime
    message: str
    cluster: ClusterName | None = Field(
        default=None,
        description=(
            "The Kubernetes cluster it concerns: only principals granted that cluster get it."
        ),
    )
    culprits: list[Culprit] | None = omitted_when_none(
        "A host's CPU or memory alert, raised: its busiest containers then (at most 3), and"
        " its busiest processes where the collector sees them (at most 3)."
    )
    log_lines: list[str] | None = omitted_when_none(
        "A pod's alert, raised: its container's last log lines then, redacted, oldest first."
    )
    rule: str | None = omitted_when_none("The id of the rule that raised it (`source` rule).")
    severity: str | None = omitted_when_none("info, warning or critical (a rule's).")
    labels: dict[str, str] | None = omitted_when_none("The labels of the rule that raised it.")
    acknowledged: Acknowledgement | None = omitted_when_none(
        "A raised alert acknowledged (the transition `raised` -> acknowledged: `state` stays"
        " raised until it resolves, and its resolution carries it too when the alerter knows)."
    )
    proposal: ProposedAction | None = omitted_when_none(
        "What the rule proposes to do about it (a raised rule alert), for an operator to"
        " confirm (`ctl.alerts.proposal_confirm`); `done` once carried out."
    )

    @model_validator(mode="before")
    @classmethod
    def _kubernetes_names_its_cluster(cls, data: Any) -> Any:
        """A Kubernetes alert concerns its cluster, which older collectors named in
        `host` only: such an alert (still in the stream) is taken as that cluster's."""
        kubernetes = isinstance(data, dict) and data.get("source") == AlertSource.K8S
        if kubernetes and data.get("cluster") is None:
            return {**data, "cluster": data.get("host")}
        return data
