"""What state deltas save on a realistic container stats stream, and what they cost.

A simulated host of 100 containers (tests/fleet.py: busy and idle containers, network
and block I/O, a container replaced now and then) sends a batch every 2 s. Each batch
goes through the gateway's own rendering (`views`, `deltas.StateVersions`) as the
frames a plain subscriber and a delta subscriber get: bytes on the wire as text and
with permessage-deflate (the gateway's settings), and the gateway's CPU per batch to
render them. The baseline is the plain `update` frame of every batch.

    .venv/bin/python bench/deltas.py [--containers 100] [--batches 300]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet import Fleet
from vigil.channels import resolve_channel
from vigil.subjects import Subjects
from vigil_gateway.delivery.deltas import StateVersions
from vigil_gateway.delivery.views import Delivery, renderer_for
from vigil_gateway.transport.wire import Frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--batches", type=int, default=300, help="300 = 10 minutes at 2 s")
    args = parser.parse_args()

    subjects = Subjects("vigil")
    channel = resolve_channel("docker.stats", {"host": "web1"})
    render = renderer_for(channel)
    versions = StateVersions(channel, subjects)
    fleet = Fleet("web1", args.containers)
    slot = (channel.key, subjects.docker_metrics("web1"))
    plain = {"text": 0, "deflate": 0, "cpu": 0.0}
    delta = {"text": 0, "deflate": 0, "cpu": 0.0}
    for _ in range(args.batches):
        batch = fleet.batch()
        started = time.process_time()
        (text,) = render(channel, Delivery(slot[1], batch, cursor=None))
        frame = Frame(text)
        _ = frame.deflated
        rendered = time.process_time()
        versions.record(slot, frame)
        (sent,) = versions.delta(slot)
        _ = sent.deflated
        finished = time.process_time()
        plain["cpu"] += rendered - started
        delta["cpu"] += finished - started  # a delta needs the plain frame first
        for figures, out in ((plain, frame), (delta, sent)):
            figures["text"] += len(out.data)
            figures["deflate"] += len(out.deflated)

    n = args.batches
    print(f"{args.containers} containers, {n} batches (every 2 s: {n * 2 / 60:.0f} min)\n")
    print(f"{'':24}{'plain update':>16}{'delta':>16}{'delta / plain':>16}")
    for what, key in (("bytes/batch, text", "text"), ("bytes/batch, deflate", "deflate")):
        p, d = plain[key] / n, delta[key] / n
        print(f"{what:24}{p:>16,.0f}{d:>16,.0f}{d / p:>16.2f}")
    p_ms, d_ms = plain["cpu"] / n * 1000, delta["cpu"] / n * 1000
    print(f"{'gateway CPU ms/batch':24}{p_ms:>16.2f}{d_ms:>16.2f}{d_ms / p_ms:>16.2f}")
    print(
        "\nCPU is per batch for every subscriber together (a feed renders once); "
        "bytes are per subscriber."
    )


if __name__ == "__main__":
    main()
