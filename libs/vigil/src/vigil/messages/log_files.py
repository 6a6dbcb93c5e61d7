"""What the collector publishes of its host's allow-listed log files (`/var/log/syslog`
on a host without a journal): batches of lines of one file, named by its short name
in the collector's settings, and the lease on them."""

from pydantic import Field

from vigil.messages.docker import LogLine
from vigil.model import Message
from vigil.names import HostName, LogFileName


class FileLine(LogLine):
    """A line of a log file: `time` is the one a syslog line starts with (RFC 3164 or
    RFC 5424), else when it was read; `stream` is stderr for a syslog severity of err
    and more urgent."""

    cursor: str = Field(
        description="Where it ends in the file: `<inode>:<offset>` (resumed from there)."
    )


class FileBatch(Message):
    """Lines of one log file, in order (across its rotations), on
    `logs.file.{host}.{file}`."""

    host: HostName
    file: LogFileName
    lines: list[FileLine]


class FollowFile(Message):
    """On `ctl.logs.file_follow`: hold (or renew) the lease on an allow-listed log file
    of a host, as `FollowLogs` does for a container; a name not in the collector's
    allow-list is refused NOT_FOUND."""

    host: HostName
    file: LogFileName
    holder: str = Field(max_length=64, description="Who holds it, e.g. a gateway's id.")
    lease_s: float = Field(ge=0, le=300)
    tail: int = Field(default=100, ge=0, le=10_000)


class FileFollowed(Message):
    host: HostName
    file: LogFileName
    following: bool
    holders: int
