"""The history service: rolls metrics up into its tiers and answers `ctl.history.query`;
searches the kept logs (`ctl.history.search_logs`, `log_search`).

Every replica does both: queries in one queue group (FastStream subscribers on the
service's bus), roll-ups shared window by window through claims (`roller`). It keeps
nothing in memory that another replica would need: the raw tier is a copy JetStream
makes of every sample (`HISTORY_RAW`: `LATEST` republishes each as it stores it), the tiers and the
watermarks are in JetStream too, so a restarted replica (or a restarted NATS) goes on
where the history is.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

import nats.errors

from vigil.broker import ServiceBroker, answer
from vigil.bus import Bus
from vigil.bus_doc import DESCRIPTIONS
from vigil.busauth.permissions import ServiceRole
from vigil.ctl import Refused
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task
from vigil.messages import (
    ErrorCode,
    HistorySeries,
    LinesAround,
    LogAround,
    LogHits,
    QueryHistory,
    SearchLogs,
)
from vigil.operations import History
from vigil.streams import HISTORY, HISTORY_CLAIMS, HISTORY_MARKS, HISTORY_RAW, LOGS, LOGS_KEPT
from vigil_history.errors import BadQuery
from vigil_history.log_search import LogSearch, SearchBounds
from vigil_history.query import Query
from vigil_history.roller import Roller
from vigil_history.settings import HistorySettings

log = logging.getLogger(__name__)


def serve(broker: ServiceBroker, query: Query, search: LogSearch) -> None:
    """The operations of `History` as subscribers of `broker`."""

    async def answer_query(request: QueryHistory) -> HistorySeries:
        with _refusals("the history"):
            return await query.answer(request)

    async def search_logs(request: SearchLogs) -> LogHits:
        with _refusals("the kept logs"):
            return await search.page(request)

    answer(broker, History.QUERY, answer_query)

    async def lines_around(request: LinesAround) -> LogAround:
        with _refusals("the kept logs"):
            return await search.around(request)

    answer(broker, History.SEARCH_LOGS, search_logs)
    answer(broker, History.LINES_AROUND, lines_around)


@contextlib.contextmanager
def _refusals(what: str) -> Iterator[None]:
    """A bad ask refused INVALID_MESSAGE, a bus that cannot be read UNAVAILABLE."""
    try:
        yield
    except BadQuery as exc:
        raise Refused(ErrorCode.INVALID_MESSAGE, exc.reason) from exc
    except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
        raise Refused(ErrorCode.UNAVAILABLE, f"{what} is not readable now: {exc}") from exc


class HistoryService:
    def __init__(self, settings: HistorySettings) -> None:
        self.settings = settings
        self.bus = Bus(
            settings,
            name="vigil-history",
            role=ServiceRole.HISTORY,
            streams=[HISTORY_RAW, HISTORY, LOGS, LOGS_KEPT],
            buckets=[HISTORY_CLAIMS, HISTORY_MARKS],
        )
        self.roller = Roller(self.bus, settings)
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self.query: Query | None = None
        self.warmed = asyncio.Event()
        """Set once the recent roll-ups were read ahead (or could not be)."""

    @property
    def healthy(self) -> bool:
        return self.bus.is_connected

    async def run(self) -> None:
        """Roll up and answer until `stop()` (or a cancel)."""
        await self.bus.connect()
        broker = ServiceBroker(self.bus, self.settings, description=DESCRIPTIONS["history"])
        warming: asyncio.Task[None] | None = None
        try:
            await self.roller.open()
            self.query = query = Query(self.bus, self.settings, self.roller)
            self.roller.on_published = query.cache.add
            serve(broker, query, self._log_search())
            await broker.start()
            self.ready.set()
            warming = asyncio.create_task(self._warm(query), name="history-warm")
            log.info(
                "keeping history as %s: raw %d s, tiers %s",
                self.settings.replica,
                self.settings.raw_window_s,
                ", ".join(f"{t.name} for {t.retention_s} s" for t in self.settings.tiers),
            )
            if self.settings.roll:
                await self.roller.run(self._stopping)
            else:
                await self._stopping.wait()
        finally:
            self.ready.clear()
            await stop_task(warming)
            try:
                with contextlib.suppress(Exception):
                    await broker.stop()
            finally:
                await self.bus.close()

    def _log_search(self) -> LogSearch:
        bounds = SearchBounds(self.settings.search_max_lines, self.settings.search_max_s)
        return LogSearch(self.bus, LOGS_KEPT, LOGS, bounds)

    async def _warm(self, query: Query) -> None:
        """The frames a first chart asks, read ahead (`Query.warm`); a failure only
        leaves them to be read when asked."""
        try:
            began = time.monotonic()
            read = await query.warm()
            log.info("read %d recent roll-ups ahead in %.1f s", read, time.monotonic() - began)
        except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
            log.warning("recent roll-ups not read ahead: %s", exc or type(exc).__name__)
        finally:
            self.warmed.set()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


def build_app(settings: HistorySettings) -> HistoryService:
    return HistoryService(settings)
