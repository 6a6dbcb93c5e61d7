"""What the collector publishes of its host's systemd journal: batches of lines of one
selection (a unit, a priority), and the lease on them."""

from pydantic import Field

from vigil.messages.common import omitted_when_none
from vigil.messages.docker import LogLine
from vigil.model import Message
from vigil.names import HostName, UnitName


class JournalLine(LogLine):
    """A journal entry's message (`stream` is stderr for err and more urgent)."""

    priority: int | None = omitted_when_none("Its syslog priority: 0 emerg .. 7 debug.")
    unit: str | None = omitted_when_none("The systemd unit it came from (`_SYSTEMD_UNIT`).")
    identifier: str | None = omitted_when_none("Its `SYSLOG_IDENTIFIER` (the program).")
    cursor: str = Field(description="Where it is in the host's journal (journalctl's cursor).")
    duplicate: bool | None = omitted_when_none(
        "Published before in another selection of the journal (a search skips it)."
    )


class JournalBatch(Message):
    """Lines of one journal selection, in order, on `logs.journal.{host}.{selection}`
    (`selection`: `all`, or a digest of `unit=...,priority<=...`)."""

    host: HostName
    selection: str = Field(description="What was selected: unit=...,priority<=... or all.")
    lines: list[JournalLine]


class FollowJournal(Message):
    """On `ctl.logs.journal_follow`: hold (or renew) the lease on a selection of a
    host's journal, as `FollowLogs` does for a container."""

    host: HostName
    unit: UnitName | None = omitted_when_none("A unit's name or a glob; none: every unit.")
    priority: int | None = Field(
        default=None, ge=0, le=7, description="At most this verbose (0 emerg .. 7 debug)."
    )
    holder: str = Field(max_length=64, description="Who holds it, e.g. a gateway's id.")
    lease_s: float = Field(ge=0, le=300)
    tail: int = Field(default=100, ge=0, le=10_000)


class JournalFollowed(Message):
    host: HostName
    selection: str
    following: bool
    holders: int
