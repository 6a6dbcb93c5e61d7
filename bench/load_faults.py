"""Faults `bench/load.py` injects a third of the way into its run (`--fault NAME`).

Each returns what it did and when (wall time), so that the run's figures can say how
long the clients took to recover and what they lost:

- `kill-gateway`: SIGKILL the first gateway; its clients reconnect (backoff with full
  jitter) to another and resume their stream and journal with `since`;
- `term-gateway`: SIGTERM the first gateway; it drains, closing its sockets with 1012
  over its drain window, and they reconnect elsewhere;
- `nats-restart`: SIGKILL nats-server, wait `--outage-s`, start it again on the same
  port and store; the clients keep their sockets and the data flows again;
- `kill-collector`: the simulated collector's stats stop for `--outage-s`, then come
  again; the clients are told `stale` (3 stats periods after the last batch), then
  `fresh` with the first new batch.
- `stall-clients`: `--stalled` clients stop reading for `--stall-s`, then read again:
  the others' latency meanwhile, the gateways' memory, and what the stalled got (state
  skipped to the newest, stream `gap`s, journal closed 4008 and resumed).
"""

import asyncio
import signal
import time
from typing import TYPE_CHECKING, Any

import psutil
from fanout_processes import tell
from load_report import figures_of

if TYPE_CHECKING:
    from load import Stack


async def kill_gateway(stack: "Stack") -> dict[str, Any]:
    return await _signal_gateway(stack, signal.SIGKILL)


async def term_gateway(stack: "Stack") -> dict[str, Any]:
    return await _signal_gateway(stack, signal.SIGTERM)


async def _signal_gateway(stack: "Stack", sig: signal.Signals) -> dict[str, Any]:
    proc, port = stack.gateways[0]
    at = time.time()
    proc.send_signal(sig)
    await asyncio.wait_for(proc.wait(), stack.args.drain_window + 30)
    return {"fault": sig.name, "gateway_port": port, "at": at, "exited_after_s": time.time() - at}


async def restart_nats(stack: "Stack") -> dict[str, Any]:
    assert stack.nats is not None
    at = time.time()
    stack.nats.kill()
    await stack.nats.wait()
    await asyncio.sleep(stack.args.outage_s)
    await stack.start_nats()
    return {"fault": "nats SIGKILL + restart", "at": at, "back_at": time.time()}


async def kill_collector(stack: "Stack") -> dict[str, Any]:
    at = time.time()
    stack.collector_down = True
    last_batch_at = stack.last_stats_at
    await asyncio.sleep(stack.args.outage_s)
    stack.collector_down = False
    return {
        "fault": "stats stopped",
        "at": at,
        "last_batch_at": last_batch_at,
        "back_at": time.time(),
    }


async def stall_clients(stack: "Stack") -> dict[str, Any]:
    args, procs = stack.args, stack.client_procs
    share = max(1, args.stalled // len(procs))
    gateways = [psutil.Process(proc.pid) for proc in stack.live_gateways()]

    def rss_mib() -> float:
        return sum(gateway.memory_info().rss for gateway in gateways) / 2**20

    before = peak = rss_mib()
    at = time.time()
    tell(procs, f"stall {share} {args.stall_s}")
    while time.time() < at + args.stall_s:
        await asyncio.sleep(0.5)
        peak = max(peak, rss_mib())
    return {
        "fault": "stall",
        "clients": share * len(procs),
        "at": at,
        "for_s": args.stall_s,
        "gateway_rss_mib_before_peak": [round(before, 1), round(peak, 1)],
    }


FAULTS = {
    "kill-gateway": kill_gateway,
    "term-gateway": term_gateway,
    "nats-restart": restart_nats,
    "kill-collector": kill_collector,
    "stall-clients": stall_clients,
}


def stale_figures(fault: dict[str, Any], stale: list[float], fresh: list[float]) -> dict[str, Any]:
    """When the clients were told `stale` during the outage: how many, seconds after the
    last batch (p50, max), and how many before the fault (false alarms); when `fresh`:
    seconds after the stats came back. (Marks after the run's publishing ended are its
    end, not the fault.)"""
    at, back = fault["at"], fault.get("back_at", fault["at"])
    last = fault.get("last_batch_at") or at
    during = [t for t in stale if at <= t < back]
    return {
        "stale_marks": len(during),
        "stale_before_fault": sum(1 for t in stale if t < at),
        "stale_after_last_batch_s": figures_of([t - last for t in during]),
        "fresh_marks": sum(1 for t in fresh if t >= back),
        "fresh_after_back_s": figures_of([t - back for t in fresh if t >= back]),
    }


def recovery_s(
    fault: dict[str, Any], timeline: dict[str, dict[int, int]], bin_s: float, window_s: float
) -> dict[str, float | None]:
    """Per channel kind: seconds from the fault to the end of the first `window_s`
    window (one publishing period of the slowest kind) whose updates are back to 90 %
    of a window's in the 10 s before it; None when none is. An upper bound: the flow
    was back by then (it is never under `window_s`)."""
    at = fault["at"]
    width = max(1, round(window_s / bin_s))
    figures: dict[str, float | None] = {}
    for kind, bins in timeline.items():
        first = int(at / bin_s)
        before = [bins.get(b, 0) for b in range(first - round(10 / bin_s), first)]
        normal = sum(before) / len(before) * width
        figures[kind] = None
        last = max(bins, default=first)
        for start in range(first, last - width + 2):
            if sum(bins.get(b, 0) for b in range(start, start + width)) >= 0.9 * normal:
                figures[kind] = round((start + width) * bin_s - at, 2)
                break
    return figures


def accept_rate(fault: dict[str, Any], reconnects: list[float], bin_s: float) -> list[int]:
    """Reconnections per `bin_s` from the fault on, until the last one."""
    at = fault["at"]
    if not reconnects:
        return []
    counts = [0] * (int((max(reconnects) - at) / bin_s) + 1)
    for t in reconnects:
        if t >= at:
            counts[int((t - at) / bin_s)] += 1
    return counts
