"""The figures of a `bench/load.py` run: what the clients reported, summed up, and its
table (latency per channel kind, errors, journal loss, the gateways' CPU and RSS at
the start, middle and end of the run)."""

import os
from collections import Counter
from typing import TYPE_CHECKING, Any

from fanout_clients import percentile

if TYPE_CHECKING:
    from load import Stack


def summarize(stack: "Stack", reports: list[Any], connect_s: float) -> dict[str, Any]:
    args = stack.args
    errors: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    updates: Counter[str] = Counter()
    seen: list[int] = []
    recovery: list[float] = []
    reconnects: list[float] = []
    handshakes: list[float] = []
    stale: list[float] = []
    fresh: list[float] = []
    gaps = 0
    for r in reports:
        errors.update(r["errors"])
        refused.update(r["refused"])
        closed.update(r["closed"])
        updates.update(r["updates"])
        seen += r["journal_seen"]
        recovery += r["recovery_s"]
        reconnects += r["reconnects"]
        handshakes += r["handshakes"]
        stale += r["stale"]
        fresh += r["fresh"]
        gaps += r["gaps"]
    # the stream holds this deploy's journal alone, so its sequences run 1..published
    # (an event whose publish failed during a NATS outage may still have been stored)
    published = stack.journal_stored
    lost = sum(max(0, published - n) for n in seen)
    requests = args.clients * 3 + len(seen)  # a handshake and two or three subscriptions
    samples = stack.samples
    return {
        "clients": args.clients,
        "gateways": args.gateways,
        "consumers_peak": stack.consumers_peak,
        "seconds": args.seconds,
        "connect_s": connect_s,
        "error_rate": (sum(errors.values()) + sum(closed.values())) / requests,
        "errors": dict(errors),
        "closed": dict(closed),
        "refused_then_retried": dict(refused),
        "latency_ms": latency_of(reports, "histograms"),
        "updates": dict(updates),
        "stream_dropped": gaps,  # lines a slow client lost, each told by a `gap`
        "published": dict(stack.published) | {"journal events": published},
        "journal_lost": lost,
        # clients by how many journal events they were short of (0: none)
        "journal_short": dict(Counter(max(0, published - n) for n in seen)),
        "clients_reporting": len(seen),
        "recovery_s": sorted(recovery),
        "reconnects": sorted(reconnects),
        "handshakes": sorted(handshakes),
        "stale": sorted(stale),
        "fresh": sorted(fresh),
        "samples": samples,
        "load_average": os.getloadavg(),
    }


def latency_of(reports: list[Any], key: str) -> dict[str, dict[str, float]]:
    """p50, p99 (ms) and count per channel kind of the clients' histograms under `key`."""
    histograms: dict[str, Counter[int]] = {}
    for r in reports:
        for kind, hist in r[key].items():
            histograms.setdefault(kind, Counter()).update({int(k): v for k, v in hist.items()})
    return {
        kind: {"p50": percentile(h, 0.5), "p99": percentile(h, 0.99), "n": sum(h.values())}
        for kind, h in sorted(histograms.items())
    }


def timeline_of(reports: list[Any]) -> dict[str, dict[int, int]]:
    merged: dict[str, Counter[int]] = {}
    for r in reports:
        for kind, bins in r["timeline"].items():
            merged.setdefault(kind, Counter()).update({int(k): v for k, v in bins.items()})
    return {kind: dict(bins) for kind, bins in merged.items()}


def figures_of(values: list[float]) -> list[float]:
    ordered = sorted(values)
    return [round(ordered[len(ordered) // 2], 2), round(ordered[-1], 2)] if ordered else []


def window(samples: list[dict[str, float]], part: int) -> dict[str, float]:
    """Mean CPU and RSS of the first, middle or last fifth of the run."""
    n = len(samples)
    if not n:
        return {"cpu": float("nan"), "rss": float("nan"), "load_cpu": float("nan")}
    fifth = max(1, n // 5)
    start = {0: 0, 1: (n - fifth) // 2, 2: n - fifth}[part]
    chunk = samples[start : start + fifth]
    return {k: sum(s[k] for s in chunk) / len(chunk) for k in ("cpu", "rss", "load_cpu")}


def print_table(result: dict[str, Any]) -> None:
    load = ", ".join(f"{x:.2f}" for x in result["load_average"])
    print(f"\n{result['clients']} clients on {result['gateways']} gateway(s) for "
          f"{result['seconds']:.0f} s ({os.cpu_count()} CPUs, load average {load}); "
          f"all subscribed in {result['connect_s']:.1f} s")  # fmt: skip
    print(f"published: {result['published']}")
    print(f"error rate {result['error_rate']:.4%}  errors {result['errors']}  "
          f"closed by server {result['closed']}  refused, then retried "
          f"{result['refused_then_retried']}")  # fmt: skip
    print(f"\n{'kind':<9}{'updates':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for kind, figures in result["latency_ms"].items():
        print(f"{kind:<9}{result['updates'].get(kind, 0):>10}"
              f"{figures['p50']:>9.1f}{figures['p99']:>9.1f}")  # fmt: skip
    caught = result["caught_up_s"]
    when = f"all had it {caught:.1f} s after the end" if caught is not None else "never caught up"
    short = {k: v for k, v in result["journal_short"].items() if k}
    print(f"stream updates dropped for slow clients (each told by a gap): "
          f"{result['stream_dropped']}")  # fmt: skip
    print(f"\njournal lost: {result['journal_lost']} (by cursor, clients short of n: {short}, over "
          f"{result['clients_reporting']} clients; {when})")  # fmt: skip
    print(f"JetStream consumers at peak: {result['consumers_peak']}")
    print(f"\n{'gateways':<9}{'CPU %':>8}{'RSS MiB':>9}{'clients CPU %':>15}")
    for name, part in (("start", 0), ("mid", 1), ("end", 2)):
        w = window(result["samples"], part)
        print(f"{name:<9}{w['cpu']:>8.1f}{w['rss']:>9.1f}{w['load_cpu']:>15.1f}")
    if result.get("fault"):
        print(f"\nfault: {result['fault']}")
