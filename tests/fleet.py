"""A simulated fleet of containers whose stats evolve like real ones, batch by batch:
for delta tests and for bench/deltas.py (what deltas save on a realistic stream).

What changes between two batches of a real host, as the collector reports them: CPU
and memory of busy containers, network totals and rates of those that talk, block I/O
of some; names, images, limits and states rarely; now and then a container starts or
stops. Figures are rounded as the collector rounds them.
"""

import random
from datetime import UTC, datetime, timedelta

from vigil.messages import ContainerStats, DockerStatsSampled

IMAGES = ("nginx:1.27", "postgres:16", "redis:7", "api:2.4.1", "worker:2.4.1", "busybox:1")
LIMIT = 2 * 1024**3


class Fleet:
    def __init__(self, host: str, size: int, seed: int = 1, churn: float = 0.02) -> None:
        self.host = host
        self._random = random.Random(seed)
        self._churn = churn  # chance per batch that a container stops and another starts
        self._time = datetime(2026, 11, 23, tzinfo=UTC)
        self._started = 0
        self._containers = [self._new() for _ in range(size)]

    def _new(self) -> ContainerStats:
        self._started += 1
        r = self._random
        image = r.choice(IMAGES)
        return ContainerStats(
            id=f"{r.getrandbits(48):012x}",
            name=f"{image.split(':')[0]}-{self._started}",
            cpu_percent=round(r.uniform(0, 20), 2),
            memory_usage=r.randrange(20, 900) * 1024**2,
            memory_limit=LIMIT,
            network_rx=r.randrange(10**9),
            network_tx=r.randrange(10**9),
            image=image,
            state="running",
            memory_percent=0.0,
            network_rx_per_s=0.0,
            network_tx_per_s=0.0,
            block_read=r.randrange(10**8),
            block_write=r.randrange(10**8),
            pids=r.randrange(1, 40),
        )

    def _step(self, c: ContainerStats, interval_s: float) -> ContainerStats:
        r = self._random
        busy = r.random() < 0.7  # idle containers report the same figures again
        rx = r.randrange(0, 200_000) if busy else 0
        tx = r.randrange(0, 100_000) if busy else 0
        memory = max(1024**2, c.memory_usage + (r.randrange(-4, 5) * 4096 if busy else 0))
        return c.model_copy(
            update={
                "cpu_percent": round(max(0.0, c.cpu_percent + r.gauss(0, 1.5)), 2) if busy else 0.0,
                "memory_usage": memory,
                "memory_percent": round(memory / LIMIT * 100, 2),
                "network_rx": c.network_rx + rx,
                "network_tx": c.network_tx + tx,
                "network_rx_per_s": round(rx / interval_s, 1),
                "network_tx_per_s": round(tx / interval_s, 1),
                "block_write": c.block_write + (r.randrange(0, 65536) if r.random() < 0.3 else 0),
                "pids": c.pids + (r.choice((-1, 1)) if r.random() < 0.05 else 0),
            }
        )

    def batch(self, interval_s: float = 2.0) -> DockerStatsSampled:
        """The next batch: every container a step on, one replaced now and then."""
        self._time += timedelta(seconds=interval_s)
        self._containers = [self._step(c, interval_s) for c in self._containers]
        if self._containers and self._random.random() < self._churn:
            del self._containers[self._random.randrange(len(self._containers))]
            self._containers.append(self._new())
        return DockerStatsSampled(
            host=self.host, time=self._time, interval_s=interval_s, containers=self._containers
        )
