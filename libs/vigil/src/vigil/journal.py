"""A selection of a host's systemd journal: which unit (a name or a glob) and how
verbose at most (a syslog priority, 0 emerg .. 7 debug).

Written by clients as `unit=docker.service,priority<=warning` (or `all`), carried on
the bus as its two fields (`FollowJournal`), and named in subjects by `token`: a unit
glob holds `.` and `*`, which a subject token must not, so the token is a digest of
the selection's one canonical text.
"""

import functools
import hashlib
from dataclasses import dataclass

import re2

from vigil.names import PRIORITIES, NameKind, validate_name
from vigil.patterns import compile_glob


@dataclass(frozen=True)
class JournalSelection:
    unit: str | None = None  # a unit's name or a glob (journalctl's --unit)
    priority: int | None = None  # at most this verbose (journalctl's --priority)

    @classmethod
    def parse(cls, text: str) -> "JournalSelection":
        """A client's `unit=...,priority<=...` or `all`; raises `InvalidName` saying why."""
        validate_name(NameKind.JOURNAL_SELECTOR, text)
        if text == "all":
            return cls()
        unit: str | None = None
        priority: int | None = None
        for term in text.split(","):  # each at most once: the pattern says so
            if term.startswith("unit="):
                unit = term.removeprefix("unit=")
            else:
                level = term.removeprefix("priority<=")
                priority = int(level) if level.isdigit() else PRIORITIES.index(level)
        return cls(unit, priority)

    @property
    def text(self) -> str:
        """The canonical form: unit first, the priority by name; `all` for everything."""
        terms = []
        if self.unit is not None:
            terms.append(f"unit={self.unit}")
        if self.priority is not None:
            terms.append(f"priority<={PRIORITIES[self.priority]}")
        return ",".join(terms) or "all"

    def admits(self, unit: str | None, priority: int | None) -> bool:
        """Whether an entry of `unit` and `priority` is of this selection (as journalctl's
        `--unit` and `--priority`: an entry with no unit or priority is not, when they
        are asked for)."""
        if self.unit is not None and (unit is None or not _unit_glob(self.unit).fullmatch(unit)):
            return False
        return self.priority is None or (priority is not None and priority <= self.priority)

    @property
    def token(self) -> str:
        """The selection as one subject token."""
        if self.unit is None and self.priority is None:
            return "all"
        return "s" + hashlib.sha256(self.text.encode()).hexdigest()[:20]


@functools.lru_cache(maxsize=256)
def _unit_glob(unit: str) -> "re2._Regexp[str]":
    """A unit's name or glob (`docker.service`, `ssh*`) as a whole-name pattern; a name
    with no `.` is a service's, as journalctl reads it."""
    return compile_glob(unit if "." in unit or "*" in unit or "?" in unit else f"{unit}.service")
