"""The host's allow-listed log files on demand: a follower per leased file.

Only the files named in `log_files` (a short name for each path) are ever read: a
`FollowFile` (`ctl.logs.file_follow`) naming another is refused NOT_FOUND, saying
which names there are, and a path is never taken from a request. The same lease
protocol as the journal's (`logs.followers`): the first holder starts a `FileReader`
(the last `tail` lines first, then live, across rotations) and a publisher that sends
`FileBatch`es to the LOGS stream in order; when every lease has lapsed the reader is
stopped. A file's position is the cursor of the last line batched (its inode and
offset), so the next lease's reader starts after it — unless its last line is older
than `RESUME_WITHIN_NS` (5 minutes, so a long gap does not flood the stream) or the
file has been rotated since, when it starts at the tail.
"""

import asyncio
import logging
import time

from vigil import ctl
from vigil.messages import ErrorCode, FileBatch, FileFollowed, FileLine, FollowFile, LogLine
from vigil.operations import Logs
from vigil_collector.files.reader import FileReader
from vigil_collector.handoff import Handoff
from vigil_collector.logs.batches import RESUME_WITHIN_NS, Position, Read
from vigil_collector.logs.followers import Followers

log = logging.getLogger(__name__)


class FileFollowers(Followers[str]):
    async def run(self) -> None:
        """Answer this host's log file leases until cancelled."""
        await self.serve(Logs.FILE_FOLLOW, self.follow)

    async def follow(self, request: FollowFile) -> FileFollowed:
        """The `ctl.logs.file_follow` handler."""
        if request.host != self._settings.host:
            raise ctl.NotMine()
        allowed = self._settings.log_files
        if request.file not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise ctl.Refused(
                ErrorCode.NOT_FOUND,
                f"no log file {request.file!r} on {request.host}: its collector follows"
                f" only the files of its allow-list (log_files: {names})",
            )
        holders = await self._renew(
            request.file,
            request.holder,
            request.lease_s,
            lambda: self._follow(request.file, request.tail),
        )
        return FileFollowed(
            host=request.host,
            file=request.file,
            following=request.file in self._followers,
            holders=holders,
        )

    async def _follow(self, name: str, tail: int) -> None:
        settings = self._settings
        path = settings.log_files[name]
        if not await asyncio.to_thread(path.is_file):
            raise ctl.Refused(ErrorCode.UNAVAILABLE, f"log file {name}: no file {path}")

        def reader(handoff: Handoff[Read], position: Position) -> FileReader:
            recent = time.time_ns() - position.nanos < RESUME_WITHIN_NS
            return FileReader(
                path,
                after=position.cursor if recent else "",
                tail=tail,
                poll_s=settings.log_files_poll_s,
                max_line_bytes=settings.logs_max_line_bytes,
                redactor=self._redactor(),
                handoff=handoff,
            )

        await self._start(name, reader)
        log.info("following the log file %s (%s)", name, path)

    def _name(self, key: str) -> str:
        return f"the log file {key}"

    def _subject(self, key: str) -> str:
        return self._bus.subjects.file_logs(self._settings.host, key)

    def _batch(self, key: str, lines: list[LogLine]) -> FileBatch:
        entries = [line for line in lines if isinstance(line, FileLine)]
        if entries:  # the next reader of the file starts after this batch
            self._positions[key].cursor = entries[-1].cursor
        return FileBatch(host=self._settings.host, file=key, lines=entries)

    def _task_name(self, key: str) -> str:
        return f"log-file-{key}"
