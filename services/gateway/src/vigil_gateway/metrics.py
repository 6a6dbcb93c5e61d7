"""The gateway's figures for Prometheus (`GET /metrics`).

The hot path (every frame to every socket) only bumps plain integers and bucket
counts; a collector turns them into Prometheus families when scraped, so metrics
cost next to nothing per delivery. Beside them, what every Vigil service reports
(`vigil.probe.service_collectors`: `process_*` and `vigil_service_ready`), so the
dashboards' memory, CPU and readiness panels count gateways as they count the rest.
"""

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Sequence, Sized

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from vigil.probe import service_collectors

LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SIZE_BOUNDS_BYTES = (64, 256, 1024, 4096, 16384, 65536, 262144)


class Histogram:
    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float, count: int = 1) -> None:
        self.counts[bisect_left(self.bounds, value)] += count
        self.sum += value * count

    def family(
        self, name: str, documentation: str, labels: dict[str, str]
    ) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, documentation, labels=list(labels))
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", cumulative))
        family.add_metric(list(labels.values()), buckets, self.sum)
        return family


class GatewayMetrics:
    def __init__(self) -> None:
        self.opens = 0
        self.closes: Counter[int] = Counter()  # by close code, refused handshakes too
        self.sent_messages: Counter[str] = Counter()  # by channel kind
        self.sent_bytes: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.send_failures = 0
        self.rate_limited = 0
        self.resumes = 0
        self.resets = 0
        self.catching_up = 0  # sockets reading history on their own, or queued to
        self.replay_consumers = 0  # JetStream consumers those hold now
        self.handovers = 0  # sockets that caught up and went on with a shared feed
        self.message_size = Histogram(SIZE_BOUNDS_BYTES)
        self.latency: dict[str, Histogram] = {}  # by channel kind

    def sent(
        self,
        kind: str,
        frames: Sequence[Sized],
        produced_at: float | None,
        now: float,
        copies: int = 1,
    ) -> None:
        """`frames` went to `copies` sockets (the same frames: one fan-out)."""
        self.sent_messages[kind] += len(frames) * copies
        for frame in frames:
            self.sent_bytes[kind] += len(frame) * copies
            self.message_size.observe(len(frame), copies)
        if produced_at is not None:
            histogram = self.latency.get(kind)
            if histogram is None:
                histogram = self.latency[kind] = Histogram(LATENCY_BOUNDS_S)
            histogram.observe(max(0.0, now - produced_at), copies)


class _Collector(Collector):
    def __init__(
        self, metrics: GatewayMetrics, sockets: Callable[[], tuple[int, int, int]]
    ) -> None:
        self._metrics = metrics
        self._sockets = sockets

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        open_sockets, queued, deepest = self._sockets()
        yield GaugeMetricFamily("vigil_gateway_sockets", "Open sockets.", value=open_sockets)
        yield GaugeMetricFamily(
            "vigil_gateway_queued_frames", "Frames waiting in all outboxes.", value=queued
        )
        yield GaugeMetricFamily(
            "vigil_gateway_queue_depth_max", "The deepest outbox, in entries.", value=deepest
        )
        yield CounterMetricFamily("vigil_gateway_socket_opens", "Sockets opened.", value=m.opens)
        yield _labelled("vigil_gateway_socket_closes", "Sockets closed, by code.", "code", m.closes)
        yield _labelled(
            "vigil_gateway_messages_sent", "Frames sent, by channel kind.", "kind", m.sent_messages
        )
        yield _labelled(
            "vigil_gateway_bytes_sent", "Bytes sent, by channel kind.", "kind", m.sent_bytes
        )
        yield _labelled(
            "vigil_gateway_messages_dropped", "Frames dropped for slow clients.", "kind", m.dropped
        )
        for name, value, text in (
            ("vigil_gateway_send_failures", m.send_failures, "Sends that failed."),
            ("vigil_gateway_rate_limited", m.rate_limited, "Requests refused as rate limited."),
            ("vigil_gateway_resumes", m.resumes, "Subscriptions resumed from a cursor."),
            ("vigil_gateway_resets", m.resets, "Resumes past the window (reset sent)."),
            ("vigil_gateway_handovers", m.handovers, "Caught-up sockets moved to a shared feed."),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily(
            "vigil_gateway_catching_up",
            "Sockets reading a stream's history on their own (or queued to).",
            value=m.catching_up,
        )
        yield GaugeMetricFamily(
            "vigil_gateway_replay_consumers",
            "JetStream consumers held by sockets reading history.",
            value=m.replay_consumers,
        )
        yield m.message_size.family("vigil_gateway_message_size_bytes", "Size of frames sent.", {})
        for kind, histogram in sorted(m.latency.items()):
            yield histogram.family(
                "vigil_gateway_delivery_latency_seconds",
                "From the message entering JetStream to its send to a client.",
                {"kind": kind},
            )


def _labelled(
    name: str, documentation: str, label: str, values: Counter[str] | Counter[int]
) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items(), key=lambda item: str(item[0])):
        family.add_metric([str(key)], value)
    return family


class Exposition:
    """The `/metrics` text of one gateway; `ready`: whether it is (as `/readyz` says)."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        sockets: Callable[[], tuple[int, int, int]],
        ready: Callable[[], bool],
    ) -> None:
        self._registry = CollectorRegistry()
        self._registry.register(_Collector(metrics, sockets))
        for collector in service_collectors("gateway", ready):
            self._registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self._registry)
