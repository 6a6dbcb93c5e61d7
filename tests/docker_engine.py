"""A real Docker engine for tests: dockerd started when installed and not running, and small
images made locally with `docker import` (no registry is reachable here).

Tests that need Docker fail, never skip, when the engine cannot start: CI installs docker.io.
"""

import io
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

BUSYBOX_IMAGE = "vigil-test/busybox:1"
DOCKERD_LOG = Path("/tmp/vigil-test-dockerd.log")


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
        subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
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
