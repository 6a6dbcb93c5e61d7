"""The Docker source of one host: stats, status and logs while the engine answers.

While the engine answers, three things run: the stats cycle (one `DockerStatsSampled`
batch every interval, from the reader chosen for this engine when it was reached:
`stats_readers`), the status flow (a snapshot of every container, then one
`ContainerStatusChanged` per event), the log followers (on lease) and those of the
retained containers (always: `kept_logs`); scroll-back
pages of older lines are read on request. When the engine
goes away (the event stream ends, or a call fails to reach it) the source publishes
`DockerSourceChanged(available=False)`, stops its followers, and retries with backoff
(1 s doubling to `docker_retry_max_s`) until the engine is back, then says so and
starts again. With `docker=auto` nothing is reported until the engine first answers,
so a host without Docker stays quiet.
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import nats.errors
from nats.aio.subscription import Subscription

from vigil import ctl
from vigil.authority import bus_verifier
from vigil.beat import Beat
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task
from vigil.messages import (
    ContainerStatusChanged,
    DockerSourceChanged,
    utc_now,
)
from vigil.model import Message
from vigil.operations import Logs
from vigil.publishing import InOrder
from vigil.subjects import ANY
from vigil_collector.docker import engine, stats_readers
from vigil_collector.docker.container_events import ContainerStates, EventReader
from vigil_collector.docker.followers import LogFollowers
from vigil_collector.docker.kept_logs import KeptLogs
from vigil_collector.docker.log_pages import LogPages
from vigil_collector.docker.running_containers import RunningContainers, inspect_running
from vigil_collector.errors import DockerUnavailable
from vigil_collector.handoff import Handoff
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)


class DockerSource:
    def __init__(self, settings: CollectorSettings, bus: Bus) -> None:
        self._settings = settings
        self._bus = bus
        self.followers = LogFollowers(settings, bus)
        self.kept = KeptLogs(settings, bus)
        self.followers.kept = self.kept.keeps
        self.pages = LogPages(settings)
        # Status messages wait here until NATS acks them: an outage delays, never loses.
        self._statuses_out = InOrder(bus, "Docker status")
        self._available: bool | None = None
        self._services: list[Subscription] = []  # log leases and pages, for this host

    async def run(self) -> None:
        """Follow the engine until cancelled, through its outages."""
        settings = self._settings
        queue = f"vigil-collector-{settings.host}"
        self._services = [
            await ctl.serve(self._bus, Logs.FOLLOW, self.followers.follow, queue=queue),
            await ctl.serve_for_users(
                self._bus,
                Logs.PAGE,
                self.pages.read,
                bus_verifier(self._bus),
                mine=lambda request: request.host == settings.host,
                queue=queue,
            ),
        ]
        watching = asyncio.create_task(self.followers.watch_leases(), name="log-leases")
        keeping = asyncio.create_task(self.kept.watch_leases(), name="kept-logs")
        report = settings.docker == "on"
        delay = 1.0
        try:
            while True:
                try:
                    api, version = await asyncio.to_thread(
                        engine.connect,
                        settings.docker_url,
                        settings.docker_timeout_s,
                        settings.docker_stats_workers + 4,
                    )
                    choice = await self._choose_reader(api)
                except DockerUnavailable as exc:
                    if report:
                        await self._report(False, exc.reason)
                    log.debug("Docker engine not answering (%s); retry in %.0f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, settings.docker_retry_max_s)
                    continue
                report, delay = True, 1.0
                log.info("Docker engine %s answers; following it", version)
                await self._report(True, "", version, choice.kind)
                try:
                    await self._follow(api, choice)
                except DockerUnavailable as exc:
                    log.warning("Docker engine lost: %s", exc.reason)
                    await self._report(False, exc.reason)
                finally:
                    api.close()  # closes idle sockets only: does not block
                    self.pages.detach()
                    await self.followers.detach()
                    await self.kept.detach()
        finally:
            await stop_task(watching)
            await stop_task(keeping)
            await self.followers.stop_all(flush=False)
            await self.kept.stop_all(flush=False)
            await self._statuses_out.close()
            for service in self._services:
                with contextlib.suppress(nats.errors.Error):
                    await service.unsubscribe()

    # -- while the engine answers ------------------------------------------------------

    async def _choose_reader(self, api: Any) -> stats_readers.Choice:
        """Which stats reader this engine gets: said in the log and on its status."""
        try:
            choice = await asyncio.to_thread(stats_readers.choose, self._settings, api)
        except DockerUnavailable:
            api.close()
            raise
        if choice.kind == "cgroup":
            log.info("Docker stats from cgroups: %s", choice.why)
        else:
            log.info("Docker stats from the engine's API: %s", choice.why)
        return choice

    async def _follow(self, api: Any, choice: stats_readers.Choice) -> None:
        """Until the engine goes away: raises `DockerUnavailable` saying how."""
        states = ContainerStates(self._settings.host)
        running = RunningContainers()
        handoff: Handoff[Mapping[str, Any] | None] = Handoff(asyncio.get_running_loop(), 10_000)
        events = await asyncio.to_thread(EventReader, api, handoff)  # subscribed from now
        events.start()
        reader = await asyncio.to_thread(stats_readers.open_reader, choice, self._settings, api)
        tasks: list[asyncio.Task[None]] = []
        try:
            self.kept.attach(api)
            await self._snapshot(api, states, running)
            self.followers.attach(api)
            self.pages.attach(api)
            tasks = [
                asyncio.create_task(self._sample(reader, running), name="docker-stats"),
                asyncio.create_task(
                    self._statuses(api, states, running, handoff), name="docker-events"
                ),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises why it ended
            raise DockerUnavailable("the event stream ended")
        finally:
            events.shut()  # first, and without waiting: this task may be cancelled again
            for task in tasks:
                await stop_task(task)
            await asyncio.to_thread(events.join)
            await asyncio.to_thread(reader.close)

    async def _statuses(
        self,
        api: Any,
        states: ContainerStates,
        running: RunningContainers,
        handoff: Handoff[Mapping[str, Any] | None],
    ) -> None:
        while (event := await handoff.get()) is not None:
            inspected = None
            if running.needs_inspect(event):
                inspected = await asyncio.to_thread(inspect_running, api, str(event["id"]))
            running.apply(event, inspected)
            message = states.apply(event)
            if message is None:
                continue
            await self._publish(self._bus.subjects.docker_status(message.host, message.id), message)
            if message.event == "start":
                await self.followers.container_started(message.id)
            await self.kept.seen(message)

    async def _snapshot(
        self, api: Any, states: ContainerStates, running: RunningContainers
    ) -> None:
        """The current state of every container, and `removed` for those published
        before that no longer exist, so last-values are right from the start; and
        the running ones for the stats."""
        try:
            listed = await asyncio.to_thread(api.containers, all=True)
        except engine.UNREACHABLE as exc:
            raise DockerUnavailable(engine.describe(exc)) from exc
        running.reset(await asyncio.to_thread(running.fill, api, listed))
        subjects = self._bus.subjects
        for message in states.snapshot(listed):
            await self._publish(subjects.docker_status(message.host, message.id), message)
            await self.kept.seen(message)
        for container in await self._published_containers() - states.containers:
            message = states.removed(container)
            await self._publish(subjects.docker_status(message.host, container), message)

    async def _published_containers(self) -> set[str]:
        pattern = self._bus.subjects.docker_status(self._settings.host, ANY)
        try:
            js = self._bus.js
            stream = await js.find_stream_name_by_subject(pattern)
            info = await js.stream_info(stream, subjects_filter=pattern)
        except (nats.errors.Error, TimeoutError) as exc:  # best effort
            log.debug("could not list published containers: %s", exc)
            return set()
        return {subject.rsplit(".", 1)[-1] for subject in (info.state.subjects or {})}

    async def _sample(self, reader: stats_readers.StatsReader, running: RunningContainers) -> None:
        subject = self._bus.subjects.docker_metrics(self._settings.host)
        beat = Beat(self._settings.docker_interval_s)
        while True:
            await beat.wait()
            batch = await asyncio.to_thread(reader.sample, running.now())
            try:
                await self._bus.publish(subject, batch)
            except BusUnavailable as exc:  # the next cycle tries again
                log.warning("could not publish Docker stats: %s", exc)

    # -- publishing --------------------------------------------------------------------

    async def _report(
        self,
        available: bool,
        reason: str,
        version: str | None = None,
        reader: stats_readers.ReaderKind | None = None,
    ) -> None:
        if self._available is available:
            return  # said so already
        self._available = available
        change = DockerSourceChanged(
            host=self._settings.host,
            available=available,
            reason=reason,
            engine_version=version,
            stats_reader=reader,
            time=utc_now(),
        )
        await self._publish(self._bus.subjects.docker_source(self._settings.host), change)

    async def _publish(self, subject: str, message: ContainerStatusChanged | Message) -> None:
        """In order, after whatever NATS has not acked yet."""
        await self._statuses_out.send(subject, message)
