"""Where a container's cgroup files are: the host's cgroup tree and a container's place in it.

The tree is cgroup v2 (one unified hierarchy, `cgroup.controllers` at its root) or v1
(a hierarchy per controller: `cpuacct`, `memory`, `blkio`, `pids`, each a folder of
the root, or a shared one such as `cpu,cpuacct`). A container's place is what
`/proc/<pid>/cgroup` of its init process says, which holds whatever the engine chose
(cgroupfs driver `docker/<id>`, systemd driver `system.slice/docker-<id>.scope`, a
`--cgroup-parent`, rootless under `user@<uid>.service`). When that path is not in the
tree as mounted here (the collector in a private cgroup namespace sees `/..` paths),
the usual places of each driver are tried instead.
"""

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# The v1 controllers the stats need, by what they give.
V1_CONTROLLERS = ("cpuacct", "memory", "blkio", "pids")


@dataclass(frozen=True)
class CgroupTree:
    """The host's cgroup hierarchy, mounted at `root`; for v1, each controller's mount."""

    root: Path
    version: Literal[1, 2]
    mounts: dict[str, Path]  # v1: controller -> its hierarchy's folder; v2: empty

    @classmethod
    def at(cls, root: Path) -> "CgroupTree | None":
        """The tree at `root`, or None when there is none this process may read."""
        if os.access(root / "cgroup.controllers", os.R_OK):
            return cls(root, 2, {})
        mounts = {}
        try:
            folders = [entry for entry in os.scandir(root) if entry.is_dir()]
        except OSError:
            return None
        for controller in V1_CONTROLLERS:
            for entry in folders:  # `cpuacct`, or a shared `cpu,cpuacct`
                if controller in entry.name.split(","):
                    mounts[controller] = Path(entry.path)
                    break
        if set(mounts) != set(V1_CONTROLLERS):
            return None
        if not all(os.access(folder, os.R_OK | os.X_OK) for folder in mounts.values()):
            return None
        return cls(root, 1, mounts)

    def place(self, container_id: str, proc_cgroup: str) -> "ContainerCgroup | None":
        """The folders of a container (full id) given its init's `/proc/<pid>/cgroup`
        text, or None when they are not in this tree (gone, or another host's)."""
        if self.version == 2:
            own = _v2_path(proc_cgroup)
            for relative in _candidates(own, container_id, self.root, 2):
                folder = self.root / relative
                if (folder / "cgroup.procs").exists():
                    return ContainerCgroup(self, {"": folder})
            return None
        folders = {}
        paths = _v1_paths(proc_cgroup)
        for controller, mount in self.mounts.items():
            for relative in _candidates(paths.get(controller), container_id, mount, 1):
                folder = mount / relative
                if (folder / "cgroup.procs").exists():
                    folders[controller] = folder
                    break
            else:
                return None
        return ContainerCgroup(self, folders)


@dataclass(frozen=True)
class ContainerCgroup:
    """One container's cgroup folders; `file(controller, name)` is where a figure is."""

    tree: CgroupTree
    folders: dict[str, Path]  # v1: controller -> folder; v2: "" -> the one folder

    def file(self, controller: str, name: str) -> Path:
        return self.folders["" if self.tree.version == 2 else controller] / name


def _v2_path(proc_cgroup: str) -> str | None:
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def _v1_paths(proc_cgroup: str) -> dict[str, str]:
    """controller -> path, from lines such as `4:memory:/docker/<id>` or `3:cpu,cpuacct:/x`."""
    paths = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                paths[controller] = parts[2]
    return paths


def _candidates(own: str | None, container_id: str, base: Path, version: int) -> list[str]:
    """Where to look, under `base`: first what the process says, then each driver's
    usual place (rootless engines, v2 only, under the user's `user@<uid>.service`)."""
    found = []
    # `/..`: another cgroup namespace's view. Every driver names the leaf by the id: a
    # path without it is another process's (the pid was reused), not this container's.
    if own is not None and not own.startswith("/..") and container_id in own:
        found.append(own.lstrip("/"))
    found += [
        f"docker/{container_id}",  # cgroupfs driver
        f"system.slice/docker-{container_id}.scope",  # systemd driver
    ]
    if version == 2:
        patterns = (
            f"user.slice/user-*.slice/user@*.service/user.slice/docker-{container_id}.scope",
            f"user.slice/user-*.slice/user@*.service/docker.service/docker/{container_id}",
        )
        for pattern in patterns:
            found += [os.path.relpath(match, base) for match in glob.glob(str(base / pattern))]
    return found
