"""A selection of a host's systemd journal: which unit (a name or a glob) and how
verbose at most (a syslog priority, 0 emerg .. 7 debug).

Written by clients as `unit=docker.service,priority<=warning` (or `all`), carried on
the bus as its two fields (`FollowJournal`), and named in subjects by `token`: a unit
glob holds `.` and `*`, which a subject token must not, so the token is a digest of
the selection's one canonical text.
"""

import hashlib
from dataclasses import dataclass

from vigil.names import PRIORITIES, NameKind, validate_name


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

    @property
    def token(self) -> str:
        """The selection as one subject token."""
        if self.unit is None and self.priority is None:
            return "all"
        return "s" + hashlib.sha256(self.text.encode()).hexdigest()[:20]
