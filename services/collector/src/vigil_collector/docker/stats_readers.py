"""Which stats reader a host uses, chosen once each time its engine is reached.

`cgroup` (`cgroup_stats`) when this collector can read the engine's cgroups: the tree
at `cgroup_root` and the processes at `proc_root` are readable, the engine runs on
this kernel (its `/version` says which: compose's docker-proxy passes no `/info`), and
a running container, if any, is found in the tree. Otherwise `api`
(`container_stats`): a remote engine, or a container without the host's `/sys/fs/cgroup`
and `/proc`. `docker_stats_reader` may force either; a forced `cgroup` that cannot read
the tree still falls back to the API, saying why.
"""

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from vigil.messages import DockerStatsSampled
from vigil_collector.docker.cgroup_stats import CgroupStats, host_memory
from vigil_collector.docker.cgroups import CgroupTree
from vigil_collector.docker.container_stats import ApiStats
from vigil_collector.docker.engine import UNREACHABLE, describe
from vigil_collector.docker.running_containers import RunningContainer, inspect_running
from vigil_collector.errors import DockerUnavailable
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

ReaderKind = Literal["cgroup", "api"]


class StatsReader(Protocol):
    @property
    def kind(self) -> ReaderKind: ...

    def sample(self, running: Sequence[RunningContainer]) -> DockerStatsSampled:
        """Blocks: runs in a thread."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Choice:
    kind: ReaderKind
    why: str
    tree: CgroupTree | None = None


def choose(settings: CollectorSettings, api: Any) -> Choice:
    """Blocks (the engine's info, a file or two): call in a thread."""
    if settings.docker_stats_reader == "api":
        return Choice("api", "asked for (docker_stats_reader=api)")
    tree = CgroupTree.at(settings.cgroup_root)
    if tree is None:
        return Choice("api", f"no readable cgroup tree at {settings.cgroup_root}")
    try:
        host_memory(settings.proc_root)
    except OSError as exc:
        return Choice("api", f"cannot read {settings.proc_root}: {exc.strerror or exc}")
    if settings.docker_stats_reader == "cgroup":
        return Choice("cgroup", "asked for (docker_stats_reader=cgroup)", tree)
    try:
        kernel = str(api.version().get("KernelVersion") or "")
        running = api.containers(filters={"status": "running"}, limit=1)
        sample = inspect_running(api, running[0]["Id"]) if running else None
    except UNREACHABLE as exc:
        raise DockerUnavailable(describe(exc)) from exc
    if kernel and kernel != os.uname().release:
        return Choice("api", f"the engine runs on another kernel ({kernel})")
    if sample is not None:
        try:
            own = (settings.proc_root / str(sample.pid) / "cgroup").read_text()
        except OSError:
            own = ""
        if tree.place(sample.id, own) is None:
            return Choice("api", f"container {sample.name}'s cgroup is not under {tree.root}")
    return Choice("cgroup", f"cgroup v{tree.version} at {tree.root}", tree)


def open_reader(choice: Choice, settings: CollectorSettings, api: Any) -> StatsReader:
    if choice.kind == "cgroup" and choice.tree is not None:
        return CgroupStats(choice.tree, settings.proc_root, settings.host)
    return ApiStats(api, settings.host, settings.docker_stats_workers)
