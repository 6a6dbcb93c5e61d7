"""The host's journal on demand: a follower per leased selection (a unit, a priority).

The same lease protocol as containers' and pods' (`logs.followers`): `FollowJournal`
requests (`ctl.logs.journal_follow`) renew a holder's lease; the first starts a
`JournalReader` (journalctl, the last `tail` entries first, then live) and a publisher
that sends `JournalBatch`es to the LOGS stream in order; when every lease has lapsed
journalctl is stopped. A selection's position is the cursor of the last line batched,
so the next lease's reader starts after it: no line twice, none left out. A reader
that ends by itself (journalctl failed: a unit glob that matches no unit yet) ends its
follower; the next renewal of a live lease starts another. An entry two selections
took is published by each, the later copies marked (`journal.copies`).
"""

import asyncio
import logging
import shutil

from vigil import ctl
from vigil.bus import Bus
from vigil.journal import JournalSelection
from vigil.messages import (
    ErrorCode,
    FollowJournal,
    JournalBatch,
    JournalFollowed,
    JournalLine,
    LogLine,
)
from vigil.operations import Logs
from vigil_collector.handoff import Handoff
from vigil_collector.journal.copies import Copies
from vigil_collector.journal.reader import JournalReader, journalctl_command
from vigil_collector.logs.batches import Position, Read
from vigil_collector.logs.followers import Followers
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)


class JournalFollowers(Followers[JournalSelection]):
    def __init__(self, settings: CollectorSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self._copies = Copies()

    async def run(self) -> None:
        """Answer this host's journal leases until cancelled."""
        await self.serve(Logs.JOURNAL_FOLLOW, self.follow)

    async def follow(self, request: FollowJournal) -> JournalFollowed:
        """The `ctl.logs.journal_follow` handler."""
        if request.host != self._settings.host:
            raise ctl.NotMine()
        selection = JournalSelection(request.unit, request.priority)
        holders = await self._renew(
            selection,
            request.holder,
            request.lease_s,
            lambda: self._follow(selection, request.tail),
        )
        return JournalFollowed(
            host=request.host,
            selection=selection.text,
            following=selection in self._followers,
            holders=holders,
        )

    async def _follow(self, selection: JournalSelection, tail: int) -> None:
        settings = self._settings
        journalctl = shutil.which(settings.journalctl)
        if journalctl is None:
            raise ctl.Refused(ErrorCode.UNAVAILABLE, f"no {settings.journalctl} on this host")
        directory = settings.journal_directory
        if directory is not None and not await asyncio.to_thread(directory.is_dir):
            raise ctl.Refused(ErrorCode.UNAVAILABLE, f"no journal directory {directory}")

        def reader(handoff: Handoff[Read], position: Position) -> JournalReader:
            command = journalctl_command(
                journalctl, directory, selection, after=position.cursor, tail=tail
            )
            return JournalReader(
                command,
                resuming=bool(position.cursor),
                max_line_bytes=settings.logs_max_line_bytes,
                redactor=self._redactor(),
                handoff=handoff,
            )

        await self._start(selection, reader)
        log.info("following the journal: %s", selection.text)

    def _name(self, key: JournalSelection) -> str:
        return f"the journal ({key.text})"

    def _subject(self, key: JournalSelection) -> str:
        return self._bus.subjects.journal_logs(self._settings.host, key.token)

    def _batch(self, key: JournalSelection, lines: list[LogLine]) -> JournalBatch:
        entries = self._copies.mark([line for line in lines if isinstance(line, JournalLine)])
        if entries:  # the next reader of the selection starts after this batch
            self._positions[key].cursor = entries[-1].cursor
        return JournalBatch(host=self._settings.host, selection=key.text, lines=entries)

    def _task_name(self, key: JournalSelection) -> str:
        return f"journal-{key.token}"
