"""Which series each kind of source has, and reading them from the collector's samples.

Every value is kept as a fixed-point integer (`round(value * scale)`: a container's CPU
in 0.01 %, as the collector rounds it), so roll-ups of roll-ups are exact: a sum of
sums is the sum. Counters (a container's network and block bytes since it started) are
kept as rates per second, per interval between two samples of the same container: a
counter that went down counts again from zero, and across a container recreated under
the same name (another id) there is no rate for that interval.
"""

import json
import logging
import sys
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from vigil.messages import DockerStatsSampled, HostMetricsSampled, K8sMetricsSampled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Series:
    name: str
    scale: int = 1
    """Kept as `round(value * scale)`: 100 keeps two decimals."""
    counter: bool = False
    """A total since start, kept as its rate per second (at `scale`)."""


@dataclass(frozen=True)
class Schema:
    kind: str
    """The subject token of its roll-ups: host, docker, pods, nodes."""
    series: tuple[Series, ...]

    def index(self, name: str) -> int:
        return [series.name for series in self.series].index(name)


HOST = Schema(
    "host",
    (
        Series("cpu_percent", 100),
        Series("load_1", 100),
        Series("memory_used", 1),
        Series("memory_percent", 100),
        Series("swap_used", 1),
        Series("disk_read_bytes_per_s", 1),
        Series("disk_write_bytes_per_s", 1),
        Series("network_rx_bytes_per_s", 1),
        Series("network_tx_bytes_per_s", 1),
    ),
)
DOCKER = Schema(
    "docker",
    (
        Series("cpu_percent", 100),
        Series("memory_usage", 1),
        Series("pids", 1),
        Series("network_rx", 10, counter=True),
        Series("network_tx", 10, counter=True),
        Series("block_read", 10, counter=True),
        Series("block_write", 10, counter=True),
    ),
)
PODS = Schema("pods", (Series("cpu_millicores", 10), Series("memory_bytes", 1)))
NODES = Schema("nodes", (Series("cpu_millicores", 10), Series("memory_bytes", 1)))

SCHEMAS = {schema.kind: schema for schema in (HOST, DOCKER, PODS, NODES)}

RAW_KINDS: dict[str, tuple[Schema, ...]] = {
    "host": (HOST,),
    "docker": (DOCKER,),
    "k8s": (PODS, NODES),
}
"""The raw kinds (`metrics.{kind}.{source}`) and the schemas each feeds."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One entry of one raw sample: gauges at their scale, counters as they were read."""

    key: str
    id: str
    time: float
    values: tuple[int, ...]


def _fixed(value: float, scale: int) -> int:
    return round(value * scale)


def _epoch(time: datetime) -> float:
    return time.timestamp()


def readable_samples(raw_kind: str, payload: bytes) -> dict[str, list[Sample]]:
    """`samples_of`, or none (logged) for a message that is not a sample this version
    reads: one bad message must not hold its window back for ever. Docker's straight
    from the JSON (`container_samples`)."""
    if raw_kind == "docker":
        return {"docker": container_samples(payload)}
    try:
        return samples_of(raw_kind, payload)
    except ValidationError as exc:
        log.warning("a %s sample this version cannot read, left out: %s", raw_kind, exc)
        return {}


def container_samples(payload: bytes) -> list[Sample]:
    """The containers of a Docker stats message, read straight from its JSON: a hundred
    containers every 2 s are the history's bulk, and building the collector's models for
    them costs several times more. Names and ids interned: a replica keeps the last
    minutes parsed (`recent`), each name once, not once per sample. Figures are taken as the
    contract types them (`int`, `float`); a message this version cannot read gives none
    (logged)."""
    try:
        stats = json.loads(payload)
        at = datetime.fromisoformat(stats["time"]).timestamp()
        return [
            Sample(
                sys.intern(c["name"]),
                sys.intern(c["id"]),
                at,
                (
                    _fixed(float(c["cpu_percent"]), 100),
                    int(c["memory_usage"]),
                    int(c["pids"]),
                    int(c["network_rx"]),
                    int(c["network_tx"]),
                    int(c["block_read"]),
                    int(c["block_write"]),
                ),
            )
            for c in stats["containers"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("a docker sample this version cannot read, left out: %s", exc)
        return []


def samples_of(raw_kind: str, payload: bytes) -> dict[str, list[Sample]]:
    """The entries of one raw message of `raw_kind`, by schema kind."""
    if raw_kind == "docker":
        stats = DockerStatsSampled.model_validate_json(payload)
        at = _epoch(stats.time)
        return {
            "docker": [
                Sample(
                    c.name,
                    c.id,
                    at,
                    (
                        _fixed(c.cpu_percent, 100),
                        c.memory_usage,
                        c.pids,
                        c.network_rx,
                        c.network_tx,
                        c.block_read,
                        c.block_write,
                    ),
                )
                for c in stats.containers
            ]
        }
    if raw_kind == "host":
        host = HostMetricsSampled.model_validate_json(payload)
        values = (
            _fixed(host.cpu.percent, 100),
            _fixed(host.load.one, 100),
            host.memory.used,
            _fixed(host.memory.percent, 100),
            host.swap.used,
            _fixed(host.disk_io.read_bytes_per_s, 1),
            _fixed(host.disk_io.write_bytes_per_s, 1),
            _fixed(host.network.rx_bytes_per_s, 1),
            _fixed(host.network.tx_bytes_per_s, 1),
        )
        return {"host": [Sample(host.host, "", _epoch(host.time), values)]}
    if raw_kind == "k8s":
        k8s = K8sMetricsSampled.model_validate_json(payload)
        at = _epoch(k8s.time)
        return {
            "pods": [
                Sample(pod.id, "", at, (_fixed(pod.cpu_millicores, 10), pod.memory_bytes))
                for pod in k8s.pods
            ],
            "nodes": [
                Sample(node.id, "", at, (_fixed(node.cpu_millicores, 10), node.memory_bytes))
                for node in k8s.nodes
            ],
        }
    raise ValueError(f"no history is kept of {raw_kind!r} metrics")
