"""The alerter service: answers `ctl.rules.*` (`handlers`) and `ctl.alerts.*`
(`lifecycle`), keeps the alert book (`book`), and evaluates the rules on the live flow
(`evaluation`), for the sources it holds (`sources`).

The flow in: core subscriptions on `metrics.>`, `status.>`, `logs.>` and
`gateway.sampled.*` (the gateway replicas' samples of themselves); a source newly taken
first has its last status of each container and pod read from `LATEST` (what a
collector said before this replica listened). The flow out: each transition on
`alerts.rule`, in order, into the `ALERTS` stream (`vigil.publishing.InOrder`), where
the gateway's `alerts` channel and the notifier take it like any other alert.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil import ctl
from vigil.audit_trail import AuditTrail
from vigil.authority import bus_verifier
from vigil.broker import ServiceBroker
from vigil.bus import Bus
from vigil.bus_doc import DESCRIPTIONS
from vigil.busauth.permissions import ServiceRole
from vigil.errors import BusUnavailable
from vigil.leases import Leases
from vigil.messages import (
    AlertChanged,
    AlertRecord,
    AlertSource,
    AlertState,
    ContainerStatusChanged,
    DockerStatsSampled,
    FollowLogs,
    GatewaySampled,
    HostMetricsSampled,
    K8sMetricsSampled,
    LogBatch,
    PodStatusChanged,
    ProposalRun,
    Rule,
    Silence,
)
from vigil.operations import Logs
from vigil.publishing import InOrder
from vigil.records import Records
from vigil.streams import (
    ALERT_BOOK,
    ALERT_PROPOSALS,
    ALERT_RULES,
    ALERT_SILENCES,
    ALERTER_SOURCES,
    ALERTS,
    AUDIT,
    LATEST,
)
from vigil.subjects import ANY
from vigil_alerter import defaults, lifecycle
from vigil_alerter.book import BookKeeper
from vigil_alerter.evaluation import Evaluator
from vigil_alerter.handlers import Handlers, serve
from vigil_alerter.lifecycle import Lifecycle
from vigil_alerter.proposals import Proposals
from vigil_alerter.settings import AlerterSettings
from vigil_alerter.sources import Sources, source_of

log = logging.getLogger(__name__)

_READ_WAIT_S = 5.0


class AlerterService:
    def __init__(self, settings: AlerterSettings) -> None:
        self.settings = settings
        self.replica = f"alerter-{uuid.uuid4().hex[:8]}"
        self.bus = Bus(
            settings,
            name="vigil-alerter",
            role=ServiceRole.ALERTER,
            streams=[ALERTS, AUDIT, LATEST],
            buckets=[ALERT_RULES, ALERT_BOOK, ALERT_PROPOSALS, ALERT_SILENCES, ALERTER_SOURCES],
        )
        self.trail = AuditTrail(self.bus, "alerter")
        self.ready = asyncio.Event()  # set once requests are answered and the flow read
        self.evaluator = Evaluator()
        self.sources: Sources | None = None
        self._out = InOrder(self.bus, "rule alerts")
        self._rules_seen = -1
        self._book: Records[AlertRecord] | None = None

    @property
    def healthy(self) -> bool:
        return self.ready.is_set() and self.bus.is_connected

    async def run(self) -> None:
        await self.bus.connect()
        broker = ServiceBroker(self.bus, self.settings, description=DESCRIPTIONS["rules"])
        subscriptions = []
        keeper: BookKeeper | None = None
        try:
            rules = await Records.open(self.bus, ALERT_RULES, Rule, defaults.MARKERS)
            if self.settings.default_rules:
                await defaults.seed(rules, await self.bus.kv(ALERT_RULES))
            book = self._book = await Records.open(self.bus, ALERT_BOOK, AlertRecord)
            silences = await Records.open(self.bus, ALERT_SILENCES, Silence)
            verifier = bus_verifier(self.bus)
            serve(broker, Handlers(rules, self.trail), verifier)
            runs = await Records.open(self.bus, ALERT_PROPOSALS, ProposalRun)
            lifecycle.serve(
                broker,
                Lifecycle(self.bus, book, silences, self.trail),
                Proposals(self.bus, book, runs, self.trail),
                verifier,
            )
            await broker.start()
            keeper = BookKeeper(self.bus, book)
            await keeper.start()
            leases = await Leases.open(
                self.bus, ALERTER_SOURCES, self.replica, self.settings.lease_s
            )
            self.sources = Sources(leases, self.settings.lease_s)
            await self._read_rules(rules)
            subjects = self.bus.subjects
            for pattern in (
                subjects.all_metrics(),
                subjects.all_status(),
                subjects.all_logs(),
                subjects.gateway_sampled(ANY),
            ):
                subscriptions.append(await self.bus.nc.subscribe(pattern, cb=self._take))
            self.ready.set()
            log.info("evaluating rules as %s", self.replica)
            await self._keep(rules)
        finally:
            self.ready.clear()
            try:
                if keeper is not None:
                    await keeper.stop()
                for subscription in subscriptions:
                    with contextlib.suppress(nats.errors.Error):
                        await subscription.unsubscribe()
                if self.sources is not None:
                    with contextlib.suppress(BusUnavailable, nats.errors.Error, TimeoutError):
                        await self.sources.release()
                await broker.stop()
                await self._out.close(within_s=2.0)
                await self.trail.close()
            finally:
                await self.bus.close()

    # -- the loop: rules, time, leases ----------------------------------------------

    async def _keep(self, rules: Records[Rule]) -> None:
        assert self.sources is not None
        renew_every = self.settings.lease_s / 3
        renewed = followed = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self._read_rules(rules)
                if time.monotonic() - followed >= self.settings.log_lease_s / 3:
                    followed = time.monotonic()
                    await self._follow_logs()
                if time.monotonic() - renewed >= renew_every:
                    renewed = time.monotonic()
                    for source in await self.sources.renew():
                        log.warning("lost %s to another replica", source)
                        self.evaluator.drop_source(source)
            except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
                log.warning("rules or leases not read (%s); trying again", exc)
            self._send(self.evaluator.tick(time.time()))

    async def _follow_logs(self) -> None:
        """Hold (or renew) a lease on the logs of each container a log rule reads: its
        collector follows them while a lease lives, so they stop when no rule wants them."""
        for host, container in self.evaluator.followed_logs():
            lease = FollowLogs(
                host=host,
                container=container,
                holder=self.replica,
                lease_s=self.settings.log_lease_s,
                tail=0,
            )
            try:
                await ctl.call(self.bus, Logs.FOLLOW, lease)
            except ctl.Refused as exc:
                log.warning("logs of %s on %s not followed: %s", container, host, exc.message)

    async def _read_rules(self, rules: Records[Rule]) -> None:
        """The rules again, when their bucket changed since the last look."""
        stream = ALERT_RULES.stream(self.bus.subjects)
        last = (await self.bus.js.stream_info(stream)).state.last_seq
        if last != self._rules_seen:
            found = [record.value for record in await rules.all()]
            self._rules_seen = last
            self._send(self.evaluator.set_rules(found, time.time()))
            log.info("%d rules", len(found))

    # -- the flow in ---------------------------------------------------------------

    async def _take(self, msg: Msg) -> None:
        tokens = msg.subject.removeprefix(self.bus.subjects.prefix + ".").split(".")
        source = source_of(tokens)
        if source is None or self.sources is None:
            return
        admitted = await self.sources.admit(source)
        if admitted is False:
            return
        if admitted is None:  # newly this replica's: what was said before it listened
            log.info("evaluating %s", source)
            await self._read_status(source)
            await self._adopt(source)
        self._feed(tokens, msg.data)

    def _feed(self, tokens: list[str], data: bytes) -> None:
        handle = self._handler(tokens)
        if handle is None:
            return
        try:
            changed = handle(data, time.time())
        except ValidationError:
            log.warning("ignored a malformed message on %s", ".".join(tokens))
            return
        self._send(changed)

    def _handler(self, tokens: list[str]) -> Callable[[bytes, float], list[AlertChanged]] | None:
        evaluator = self.evaluator
        match tokens[0], tokens[1], len(tokens):
            case "metrics", "host", 3:
                return lambda data, now: evaluator.host_sample(
                    HostMetricsSampled.model_validate_json(data), now
                )
            case "metrics", "docker", 3:
                return lambda data, now: evaluator.docker_sample(
                    DockerStatsSampled.model_validate_json(data), now
                )
            case "metrics", "k8s", 3:
                return lambda data, now: evaluator.k8s_sample(
                    K8sMetricsSampled.model_validate_json(data), now
                )
            case "status", "docker", 4:
                return lambda data, now: evaluator.container_status(
                    ContainerStatusChanged.model_validate_json(data), now
                )
            case "logs", "docker", 4:
                return lambda data, now: evaluator.log_batch(
                    LogBatch.model_validate_json(data), now
                )
            case "gateway", "sampled", 3:
                return lambda data, now: evaluator.gateway_sample(
                    GatewaySampled.model_validate_json(data), now
                )
            case "status", "k8s", 5:
                return lambda data, now: evaluator.pod_status(
                    PodStatusChanged.model_validate_json(data), now
                )
        return None

    async def _read_status(self, source: str) -> None:
        """The last status message of each container (or pod) of `source`, from LATEST."""
        kind, _, name = source.partition(":")
        subjects = self.bus.subjects
        if kind == "gateway":  # samples only, no status
            return
        if kind == "host":
            pattern = subjects.docker_status(name, ANY)
        else:
            pattern = subjects.k8s_status(name, ANY, ANY)
        await _read_last(self.bus, LATEST.stream(subjects), pattern, self._replay)

    async def _adopt(self, source: str) -> None:
        """The alerts of `source` that its rules raised and that are not resolved (in the
        book: a replica that held it before, and died or stopped, raised them)."""
        assert self._book is not None
        kind, _, name = source.partition(":")
        keys: tuple[str, ...]
        if kind == "host":
            keys = (f"docker:{name}:", f"host:{name}", f"stale:host:{name}", f"stale:docker:{name}")
        elif kind == "gateway":
            keys = (source, f"stale:{source}")
        else:
            keys = (f"pod:{name}:", f"stale:k8s:{name}")
        for found in await self._book.all():
            alert = found.value.alert
            if alert.rule is None or alert.state is not AlertState.RAISED:
                continue
            if alert.id.split(":", 2)[-1].startswith(keys):
                self.evaluator.adopt(alert)

    def _replay(self, subject: str, data: bytes) -> None:
        self._feed(subject.removeprefix(self.bus.subjects.prefix + ".").split("."), data)

    def _send(self, changed: list[AlertChanged]) -> None:
        subject = self.bus.subjects.alerts(AlertSource.RULE)
        for alert in changed:
            log.info("%s %s: %s", alert.state.value, alert.id, alert.message)
            self._out.put(subject, alert)


async def _read_last(
    bus: Bus, stream: str, pattern: str, each: Callable[[str, bytes], None]
) -> None:
    """Each subject's last message under `pattern` in `stream`, handed to `each`."""
    reader = await bus.js.pull_subscribe(
        pattern,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=_READ_WAIT_S * 2,
        ),
    )
    try:
        left = (await reader.consumer_info()).num_pending or 0
        while left > 0:
            batch = await reader.fetch(min(left, 256), timeout=_READ_WAIT_S)
            for msg in batch:
                left -= 1
                each(msg.subject, msg.data)
    finally:
        with contextlib.suppress(nats.errors.Error):
            await reader.unsubscribe()


def build_app(settings: AlerterSettings) -> AlerterService:
    return AlerterService(settings)
