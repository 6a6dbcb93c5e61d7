"""Searching the kept logs (`ctl.history.search_logs`) and its answer: pages of lines
that match a pattern, from the sources the gateway resolved a selector to.

The gateway turns a user's selector (a host's containers by name or label, a cluster's
pods, a host's journal) into sources, each only within the user's grants, and asks for one page at a
time; each answer carries a cursor for the next page until the scan is done. One page
scans at most the service's bound of lines and time, so a broad or slow search comes
back in pages rather than holding a replica (or the gateway) for long.
"""

from typing import Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from vigil.log_levels import LevelName
from vigil.messages.common import omitted_when_none
from vigil.messages.docker import Generation, LogLine
from vigil.messages.kubernetes import PodGeneration
from vigil.model import Message
from vigil.names import (
    ClusterName,
    ContainerName,
    HostName,
    JournalSelector,
    LogFileName,
    NamespaceName,
    PodName,
)

MAX_PATTERN_CHARS = 1000
MAX_SOURCES = 1000
CURSOR = r"^k?[0-9]{1,20}:[0-9]{1,6}$"
"""`<stream sequence>:<line index>`: where the next page starts (after that line); `k`
before it: in the kept logs (LOGS_KEPT, read before the last hour's)."""


class LogSourceRef(Message):
    """Containers of a Docker host, pods of a cluster, a host's journal (its entries of
    every selection the collector followed, or only those `journal` selects) or its log
    files (or the one `file` names): a field left out means any (`host` alone: every
    container of that host). A container's kept lines (LOGS_KEPT) are found by its
    `name` (every generation of it), else by its id (`container`); a source with a
    `name` and no `container` is searched in the kept lines only. A retained pod's kept
    lines are found by its `pod` name, or its workload's (every pod of it)."""

    kind: Literal["docker", "k8s", "journal", "file"]
    host: HostName | None = omitted_when_none("A Docker host, or a journal's or log files'.")
    container: ContainerName | None = omitted_when_none("A container's id (docker).")
    name: ContainerName | None = omitted_when_none("A container's name (docker, kept lines).")
    cluster: ClusterName | None = omitted_when_none("The cluster (k8s): grants are per cluster.")
    namespace: NamespaceName | None = omitted_when_none()
    pod: PodName | None = omitted_when_none()
    journal: JournalSelector | None = omitted_when_none(
        "Which entries of a host's journal: unit=NAME (or a glob), priority<=LEVEL, or all."
    )
    file: LogFileName | None = omitted_when_none("A host's log file, by its short name.")

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> Self:
        docker = (self.host, self.container, self.name)
        k8s = (self.cluster, self.namespace, self.pod)
        own = {"journal": self.journal, "file": self.file}
        for kind, value in own.items():
            if value is not None and self.kind != kind:
                raise ValueError(f"{kind} is a {kind} source's")
        if self.kind == "docker" and any(value is not None for value in k8s):
            raise ValueError("a docker source names host, container and name only")
        if self.kind in ("journal", "file") and any(
            value is not None for value in (self.container, self.name, *k8s)
        ):
            raise ValueError(f"a {self.kind} source names its host and its {self.kind} only")
        if self.kind in own and own[self.kind] is not None and self.host is None:
            raise ValueError(f"a {self.kind} is named with its host")
        if self.kind == "k8s":
            if any(value is not None for value in docker):
                raise ValueError("a k8s source names cluster, namespace and pod only")
            if self.cluster is None:
                raise ValueError("a k8s source names its cluster")
        if self.kind == "docker" and self.host is None and self.container is not None:
            raise ValueError("a container is named with its host")
        if self.kind == "docker" and self.host is None and self.name is not None:
            raise ValueError("a container's name is given with its host")
        if self.namespace is None and self.pod is not None:
            raise ValueError("a pod is named with its namespace")
        return self


class SearchLogs(Message):
    """On `ctl.history.search_logs` (asked by the gateway only). Lines of `sources`
    whose text matches `pattern` (RE2 syntax, linear time; plain text with `literal`),
    of `level` or worse, with a time in `[since, until)`, newest or oldest first,
    `limit` per page; the next page continues from the answer's `cursor`."""

    sources: list[LogSourceRef] = Field(min_length=1, max_length=MAX_SOURCES)
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN_CHARS)
    literal: bool = Field(default=False, description="`pattern` is plain text, not a regex.")
    ignore_case: bool = False
    level: LevelName | None = omitted_when_none(
        "Only lines of this level or worse (the first level word in a line: `vigil.log_levels`)."
    )
    since: AwareDatetime | None = omitted_when_none("Default: as far back as the logs go.")
    until: AwareDatetime | None = omitted_when_none("Default: now.")
    order: Literal["newest", "oldest"] = "newest"
    limit: int = Field(default=100, ge=1, le=1000, description="Lines per page, at most.")
    cursor: str | None = omitted_when_none("From the previous page's answer.", pattern=CURSOR)

    @model_validator(mode="after")
    def _a_range(self) -> Self:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class LogHit(LogLine):
    """A line that matched, with its source: a container (`host`, `container` its
    id), a pod's container (`cluster`, `namespace`, `pod`, `container`), an entry of a
    host's journal (`host`, `unit`, `priority`; no `container`), found once however
    many of the journal's selections were followed, or a line of a host's log file
    (`host`, `file`). A kept line where a generation begins (the first kept of each
    container under a name, of each pod of a workload and restart of its container, and
    after the collector's restart) carries the marker its batch was kept with."""

    host: HostName | None = omitted_when_none()
    cluster: ClusterName | None = omitted_when_none()
    namespace: NamespaceName | None = omitted_when_none()
    pod: PodName | None = omitted_when_none()
    container: str | None = omitted_when_none("A container's (none: a journal's or a file's).")
    name: str | None = omitted_when_none(
        "A kept line's: its container's name, or its pod's workload (the pods of a "
        "Deployment are kept as one)."
    )
    file: str | None = omitted_when_none("A log file's short name.")
    unit: str | None = omitted_when_none("A journal entry's systemd unit.")
    priority: int | None = omitted_when_none("A journal entry's priority (0 emerg .. 7 debug).")
    generation: Generation | PodGeneration | None = omitted_when_none(
        "A kept line's, the first of a generation: a container's (its id, when it "
        "started) or a pod's (the pod, its uid, the container's restarts)."
    )
    at: str = Field(pattern=CURSOR, description="Where it is kept: a cursor just past it.")


class LogHits(Message):
    """One page of a search. `cursor`: ask again with it for the next page; none when
    the range is scanned to its end. A page may hold fewer than `limit` lines (even
    none) and still have a cursor: it stopped at the bound of work one page may do."""

    hits: list[LogHit]
    cursor: str | None = omitted_when_none(pattern=CURSOR)
    scanned_lines: int = Field(description="Lines this page read, matched or not.")


MAX_AROUND = 500


class LinesAround(Message):
    """On `ctl.history.log_lines_around` (asked by the gateway only): the lines of a
    hit's source around it, `before` and `after` it, oldest first. `at` is the hit's
    position (`LogHit.at`); `sources`, as a search's, are what the user may read: a
    position outside them is NOT_FOUND."""

    sources: list[LogSourceRef] = Field(min_length=1, max_length=MAX_SOURCES)
    at: str = Field(pattern=CURSOR, description="The hit's `at`.")
    before: int = Field(default=20, ge=0, le=MAX_AROUND)
    after: int = Field(default=20, ge=0, le=MAX_AROUND)


class LogAround(Message):
    """The lines around a hit, oldest first, each with its own `at`; `hit` is the index
    of the hit itself among them. Fewer than asked where its source's kept lines end."""

    lines: list[LogHit]
    hit: int = Field(ge=0)
