"""A real Docker engine for tests: dockerd started when installed and not running, and small
images made locally with `docker import` (no registry is reachable here).

Tests that need Docker fail, never skip, when the engine cannot start: CI installs docker.io.
"""

import io
import shutil
import subprocess
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

BUSYBOX_IMAGE = "vigil-test/busybox:1"
DOCKERD_LOG = Path("/tmp/vigil-test-dockerd.log")

# The dockerd this process started: held for the life of the process, because a running
# Popen that is garbage-collected warns (and warnings fail the suite).
_started_engines: list[subprocess.Popen[bytes]] = []


def docker(*args: str, stdin: bytes | None = None, timeout: float = 60) -> str:
    """Run the docker CLI; raises with its stderr when it fails."""
    done = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.decode().strip()}")
    return done.stdout.decode()


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "version"], capture_output=True, timeout=10, check=False)
    return done.returncode == 0


def ensure_dockerd(timeout: float = 60) -> None:
    """Make sure a Docker engine answers, starting dockerd (as root) if needed."""
    if engine_answers():
        return
    dockerd = shutil.which("dockerd")
    assert dockerd, "Docker is needed: install Debian's docker.io (dockerd not found)"
    with DOCKERD_LOG.open("ab") as log:
        # Left running for later tests and sessions, as a system daemon would be.
        engine = subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
    _started_engines.append(engine)
    deadline = time.monotonic() + timeout
    while not engine_answers():
        assert time.monotonic() < deadline, f"dockerd did not start; see {DOCKERD_LOG}"
        time.sleep(0.5)


def busybox_rootfs() -> bytes:
    """A tar of a root filesystem holding Debian's static busybox and its applet links."""
    busybox = Path("/bin/busybox")
    assert busybox.exists(), "install Debian's busybox-static for the test images"
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, check=True, text=True
    ).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(entry)
        tar.add(str(busybox), arcname="bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
    return buffer.getvalue()


def busybox_image(tag: str = BUSYBOX_IMAGE) -> str:
    """A tiny local image whose commands are busybox applets (sh, httpd, yes, sleep…)."""
    ensure_dockerd()
    try:
        docker("image", "inspect", tag)
    except RuntimeError:
        docker("import", "-c", "ENV PATH=/bin", "-", tag, stdin=busybox_rootfs())
    return tag


class Containers:
    """Containers of one test: uniquely named, labelled `vigil.test=<label>`, all removed
    by `remove_all()` (the fixture's teardown)."""

    def __init__(self, label: str, image: str) -> None:
        self.label = label
        self.image = image

    def name(self, hint: str) -> str:
        return f"vigil-{self.label}-{hint}-{uuid.uuid4().hex[:6]}"

    def run(self, hint: str, *command: str, options: tuple[str, ...] = ()) -> tuple[str, str]:
        """`docker run -d`; returns the short id and the name."""
        name = self.name(hint)
        full = docker("run", "-d", *self._identity(name), *options, self.image, *command)
        return full.strip()[:12], name

    def create(self, hint: str, *command: str, options: tuple[str, ...] = ()) -> tuple[str, str]:
        name = self.name(hint)
        full = docker("create", *self._identity(name), *options, self.image, *command)
        return full.strip()[:12], name

    def remove_all(self) -> None:
        ids = docker("ps", "-aq", "--filter", f"label=vigil.test={self.label}").split()
        if ids:
            docker("rm", "-f", *ids)

    def _identity(self, name: str) -> tuple[str, ...]:
        return ("--name", name, "--label", f"vigil.test={self.label}")


@dataclass
class SecondEngine:
    """A dockerd of a test's own (own socket, data, exec root, containerd namespace, and
    network namespace), so the test may stop and start it without disturbing the others.

    It runs under `unshare --net`: with `--bridge=none` dockerd deletes the host's
    `docker0` at start, which would break the shared engine's containers.
    """

    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def start(self, timeout: float = 60) -> None:
        dockerd = shutil.which("dockerd")
        assert dockerd, "Docker is needed: install Debian's docker.io (dockerd not found)"
        unshare = shutil.which("unshare")
        assert unshare, "util-linux's unshare is needed to give the second dockerd its own network"
        args = [
            unshare,
            "--net",
            dockerd,
            f"--data-root={self.root}/data",
            f"--exec-root={self.root}/exec",
            f"--pidfile={self.root}/docker.pid",
            f"--host={self.url}",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            f"--containerd-namespace=vigil-{self.root.name}",
            f"--containerd-plugins-namespace=vigil-{self.root.name}-plugins",
        ]
        with (self.root / "dockerd.log").open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not self.answers():
            assert self.process.poll() is None, f"dockerd exited; see {self.root}/dockerd.log"
            assert time.monotonic() < deadline, "the second dockerd did not start"
            time.sleep(0.2)

    def answers(self) -> bool:
        done = subprocess.run(
            ["docker", "-H", self.url, "version"], capture_output=True, timeout=10, check=False
        )
        return done.returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
