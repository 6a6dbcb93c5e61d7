"""What keeping a container's (or a pod's) logs costs: the collector's CPU while a
container writes `--rate` lines a second (5,000 by default) for `--seconds` (20), and
the disk the kept stream takes against the raw text.

A private nats-server (JetStream in a temp dir, the streams provisioned) and the real
collector as a child process (`python -m vigil_collector`, Docker on) on the local
engine. Two phases in the same run, each as long: the baseline, a container writing the
lines without the keep label (the collector does what it always does: stats and status);
then the same container with `vigil.keep-logs=true`, every line followed, redacted and
kept in LOGS_KEPT. The cost of keeping is the difference in the collector's CPU time
(every thread's, from /proc), over the phase's wall time, as a share of one core. The
storage is the LOGS_KEPT stream's directory on disk (S2) against the text the container
wrote (`docker logs`, a newline per line), with the lines kept counted against it.

With `--pods` the writer is a pod of the testbed Kubernetes instead, the collector
following the cluster (Docker off): the baseline's pod in a namespace not kept, the kept
phase's in one of `k8s_logs_keep_namespaces`, its text the pod's log as the API gives it
(`log_retention_pods`).

    uv run --all-packages python bench/log_retention.py [--rate 5000] [--seconds 20] [--pods]
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector_cpu import cpu_seconds, free_port
from fanout_processes import provision_when_up
from log_retention_pods import pod_writer

from tests.docker_engine import busybox_image, docker
from vigil.bus import Bus
from vigil.messages import KeptLogBatch, KeptPodLogBatch
from vigil.settings import VigilSettings
from vigil.streams import LOGS_KEPT
from vigil.subjects import Subjects

PREFIX = "bench"
HOST = "benchhost"
DRAIN_S = 3.0  # after the container's last line: what the collector still sends

# Lines of a web server's access log, each different (a counter, random figures), ~100 B,
# at `rate` a second by the clock (/proc/uptime), for `seconds`.
WRITER = (
    'function now(  up) { getline up < "/proc/uptime"; close("/proc/uptime");'
    ' split(up, f, " "); return f[1] }'
    " BEGIN { srand(7); n = 0; t0 = now();"
    " while ((t = now() - t0) < seconds) {"
    "  for (; n < t * rate; ) { n++;"
    '   printf "%s INFO request %d GET /api/orders/%d status=200 took=%dms user=%d'
    ' trace=%08x\\n", "2026-12-06", n, int(rand() * 99999), int(rand() * 900), n % 977,'
    " int(rand() * 2147483647) }"
    '  fflush(); system("sleep 0.05") } }'
)


class Writer(Protocol):
    """Where the writer runs, and where the collector keeps its lines."""

    @property
    def batch(self) -> type[KeptLogBatch] | type[KeptPodLogBatch]:
        """The model of its kept batches."""
        ...

    def collector_env(self) -> dict[str, str]: ...

    def followed(self, settings: VigilSettings) -> None:
        """Until the collector follows where the writer runs."""

    def write(self, name: str, keep: bool, command: list[str], timeout: float) -> None:
        """Run `command` as `name` (kept or not) until it has ended."""

    def written(self, name: str) -> tuple[str, float]:
        """Its text (a newline per line) and how long it wrote."""
        ...

    def kept_subject(self, subjects: Subjects, name: str) -> str: ...


class DockerWriter:
    """The writer as a container of the local engine, kept by the label."""

    batch = KeptLogBatch

    def __init__(self) -> None:
        self.names: list[str] = []

    def collector_env(self) -> dict[str, str]:
        return {"VIGIL_COLLECTOR_HOST": HOST, "VIGIL_COLLECTOR_DOCKER": "on"}

    def followed(self, settings: VigilSettings) -> None:
        """At once: the engine answers (the image was made through it)."""

    def write(self, name: str, keep: bool, command: list[str], timeout: float) -> None:
        self.names.append(name)
        labels = ("--label", "vigil.keep-logs=true") if keep else ()
        docker("run", "-d", "--name", name, *labels, busybox_image(), *command)
        docker("wait", name, timeout=timeout)

    def written(self, name: str) -> tuple[str, float]:
        times = docker("inspect", "-f", "{{.State.StartedAt}} {{.State.FinishedAt}}", name).split()
        began, ended = (datetime.fromisoformat(stamp[:26].rstrip("Z")) for stamp in times)
        return docker("logs", name), (ended - began).total_seconds()

    def kept_subject(self, subjects: Subjects, name: str) -> str:
        return subjects.kept_docker_logs(HOST, name)


@contextlib.contextmanager
def docker_writer() -> Iterator[DockerWriter]:
    """The engine up, the image there, before anything is measured; its containers
    removed after."""
    busybox_image()
    writer = DockerWriter()
    try:
        yield writer
    finally:
        for name in writer.names:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


Phase = tuple[float, float, str, float]


def phase(
    collector: psutil.Process, writer: Writer, name: str, keep: bool, args: argparse.Namespace
) -> Phase:
    """Run the writer as `name`: the collector's CPU seconds and the wall time from its
    start until its lines are in (`DRAIN_S` after it ended), its text, and how long it
    wrote."""
    command = ["awk", "-v", f"rate={args.rate}", "-v", f"seconds={args.seconds}", WRITER]
    before = cpu_seconds(collector)
    started = time.monotonic()
    writer.write(name, keep, command, timeout=args.seconds * 4 + 60)
    time.sleep(DRAIN_S)
    used, wall = cpu_seconds(collector) - before, time.monotonic() - started
    return used, wall, *writer.written(name)


async def kept(
    settings: VigilSettings, subject: str, batch: type[KeptLogBatch] | type[KeptPodLogBatch]
) -> tuple[int, int]:
    """The lines kept on `subject`, and the stream's bytes as JetStream counts them."""
    bus = Bus(settings, name="bench", streams=[LOGS_KEPT])
    await bus.connect(keep_trying=False)
    try:
        stream = LOGS_KEPT.stream(bus.subjects)
        info = await bus.js.stream_info(stream)
        subscription = await bus.js.subscribe(subject, stream=stream, ordered_consumer=True)
        lines, pending = 0, info.state.messages
        while pending:
            message = await subscription.next_msg(timeout=10)
            lines += len(batch.model_validate_json(message.data).lines)
            pending = message.metadata.num_pending
        await subscription.unsubscribe()
        return lines, info.state.bytes
    finally:
        await bus.close()


def disk_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000, help="lines a second")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--pods", action="store_true", help="a pod of the testbed Kubernetes")
    args = parser.parse_args()
    with pod_writer() if args.pods else docker_writer() as writer:
        measure(writer, args)


def measure(writer: Writer, args: argparse.Namespace) -> None:
    """Both phases through a private nats-server and collector, then the table."""
    nats_bin = Path(sys.executable).parent / "nats-server"
    port = free_port()
    store = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    nats = subprocess.Popen(
        [str(nats_bin), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings = VigilSettings(
        nats_url=f"nats://127.0.0.1:{port}",
        subject_prefix=PREFIX,
        # LOGS_KEPT as deployed (1 GiB), not as the tests' conftest (imported with the
        # pods' helpers) caps it in the environment for its many servers' streams: 1 MiB.
        logs_keep_max_bytes=VigilSettings.model_fields["logs_keep_max_bytes"].default,
    )
    asyncio.run(provision_when_up(settings))
    env = os.environ | {
        "VIGIL_NATS_URL": settings.nats_url,
        "VIGIL_SUBJECT_PREFIX": PREFIX,
        "VIGIL_LOGS_KEEP_MAX_BYTES": str(settings.logs_keep_max_bytes),
        **writer.collector_env(),
    }
    collector = subprocess.Popen(
        [sys.executable, "-m", "vigil_collector"], env=env, stderr=subprocess.DEVNULL
    )
    tag = uuid.uuid4().hex[:6]
    plain, kept_name = f"vigil-bench-plain-{tag}", f"vigil-bench-kept-{tag}"
    try:
        writer.followed(settings)
        time.sleep(3.0)  # past imports and the first connect: the steady state
        process = psutil.Process(collector.pid)
        base_cpu, base_wall, _, _ = phase(process, writer, plain, False, args)
        kept_cpu, kept_wall, text, writing_s = phase(process, writer, kept_name, True, args)
        subject = writer.kept_subject(settings.subjects, kept_name)
        lines, logical = asyncio.run(kept(settings, subject, writer.batch))
        folder = store / "jetstream" / "$G" / "streams" / LOGS_KEPT.stream(settings.subjects)
        on_disk = disk_bytes(folder)
    finally:
        collector.terminate()
        collector.wait(timeout=10)
        nats.terminate()
        nats.wait(timeout=10)
        shutil.rmtree(store, ignore_errors=True)

    written = text.count("\n")
    raw = len(text.encode())
    base_share, kept_share = base_cpu / base_wall, kept_cpu / kept_wall
    cost = (kept_cpu - base_share * kept_wall) / writing_s  # its extra work, while writing
    print(f"{written} lines in {writing_s:.1f} s ({written / writing_s:.0f} lines/s), "
          f"{raw / written:.0f} B a line; {lines} kept")  # fmt: skip
    print("| what | figure | target |")
    print("|---|---|---|")
    print(f"| collector CPU, baseline (not kept) | {100 * base_share:.2f} % of a core | |")
    print(f"| collector CPU, kept | {100 * kept_share:.2f} % of a core | |")
    print(
        f"| keeping costs (extra CPU / writing time) | **{100 * cost:.2f} % of a core** | <= 5 % |"
    )
    sizes = f"{on_disk:,} / {raw:,} B"
    print(f"| LOGS_KEPT on disk / raw text | **{on_disk / raw:.2f}x** ({sizes}) | <= 1.2x |")
    print(f"| LOGS_KEPT before S2 / raw text | {logical / raw:.2f}x | |")
    print(f"| lines kept / written | {lines} / {written} | equal |")


if __name__ == "__main__":
    main()
