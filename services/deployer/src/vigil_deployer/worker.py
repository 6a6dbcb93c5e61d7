"""Taking deploys off the queue, exactly one replica each, and finishing the ones whose
replica died.

**Exactly one worker.** New deploys wait on `work.deploy.{host}`, a JetStream work
queue that the replicas serving that host share through one durable pull consumer, so
each message goes to one of them. That replica then claims the deploy with a
revision-checked write (`queued` → `running`, `worker`, `lease_until`) and only then
acks; a redelivered message finds the deploy claimed and is dropped.

The queue is read with nats-py's pull subscription, not a FastStream subscriber (as
`ctl.deploy.*` is): a replica fetches only when it has a free deploy slot, so a deploy
goes at once to a replica that can run it. FastStream's pull subscriber (0.7) fetches
and then waits for a free worker, holding the message unacked, away from idle
replicas, for up to its ack wait; and at shutdown it cancels the handlers still running
after its grace, where a running deploy must be rolled back instead.

**No deploy stuck running.** The worker renews its lease while it runs the deploy.
Every replica sweeps the deploys in flight on its host (the service locks) for a lease
that lapsed; the first to claim such a deploy (revision-checked again) rolls it back
from what the record says the target did, and ends it failed.
"""

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import ValidationError

from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import (
    DeployQueued,
    DeployRecord,
    DeployState,
    DeployStep,
    StepState,
    utc_now,
)
from vigil.records import Records
from vigil_deployer.errors import DeployerError, LeaseLost, StepFailed
from vigil_deployer.execution import Execution, roll_back
from vigil_deployer.journal import Journal
from vigil_deployer.locks import ServiceLocks
from vigil_deployer.settings import DeployerSettings
from vigil_deployer.target import Rollout, Target

log = logging.getLogger(__name__)

_FETCH_WAIT_S = 1.0
_ACK_WAIT_S = 30.0


class Worker:
    def __init__(
        self,
        bus: Bus,
        settings: DeployerSettings,
        target: Target,
        deploys: Records[DeployRecord],
        locks: ServiceLocks,
        trail: AuditTrail,
    ) -> None:
        self.id = f"{settings.host}-{uuid.uuid4().hex[:8]}"
        self._trail = trail
        self._bus = bus
        self._settings = settings
        self._target = target
        self._deploys = deploys
        self._locks = locks
        self._slots = asyncio.Semaphore(settings.max_concurrent_deploys)
        self._running: dict[str, tuple[Execution, asyncio.Task[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._queue: JetStreamContext.PullSubscription | None = None

    async def start(self) -> None:
        self._queue = await self._bus.js.pull_subscribe(
            self._bus.subjects.deploy_queue(self._settings.host),
            durable=f"deployers-{self._settings.host}",
            stream=self._bus.subjects.stream_name("DEPLOY_QUEUE"),
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=_ACK_WAIT_S),
        )
        self._tasks = [
            asyncio.create_task(self._take(self._queue), name="deployer-intake"),
            asyncio.create_task(self._sweep(), name="deployer-sweep"),
        ]

    async def stop(self, grace_s: float) -> None:
        """Stop taking deploys; roll back the running ones within `grace_s`."""
        for task in self._tasks:
            task.cancel()
        running = list(self._running.values())
        for execution, _ in running:
            execution.stop(f"the deployer replica {self.id} is shutting down")
        tasks = [task for _, task in running]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await self._leave_the_queue()

    async def _leave_the_queue(self) -> None:
        """Unsubscribe from the work queue (its durable consumer stays, for the other
        replicas). Left subscribed, it would hold up the bus's drain at shutdown: the
        expired fetches' status messages that nats-py discards are never marked done,
        so the drain waits on them until cancelled (a traceback)."""
        queue, self._queue = self._queue, None
        if queue is not None:
            with contextlib.suppress(nats.errors.Error):
                await queue.unsubscribe()

    @property
    def running(self) -> list[str]:
        return list(self._running)

    # -- new deploys --------------------------------------------------------------

    async def _take(self, subscription: JetStreamContext.PullSubscription) -> None:
        while True:
            await self._slots.acquire()
            try:
                msgs = await subscription.fetch(1, timeout=_FETCH_WAIT_S)
            except (nats.errors.TimeoutError, TimeoutError):
                self._slots.release()
                continue
            except nats.errors.Error as exc:
                self._slots.release()
                log.warning("could not fetch from the deploy queue: %s", exc)
                await asyncio.sleep(1.0)
                continue
            started = False
            for msg in msgs:
                try:
                    started = await self._claim_and_start(
                        DeployQueued.model_validate_json(msg.data)
                    )
                except ValidationError:
                    log.warning("dropped a malformed deploy queue message")
                except (BusUnavailable, DeployerError, nats.errors.Error, TimeoutError) as exc:
                    log.warning("could not take a deploy (redelivered later): %s", exc)
                    with contextlib.suppress(nats.errors.Error):
                        await msg.nak(delay=1.0)
                    continue
                with contextlib.suppress(nats.errors.Error):
                    await msg.ack()
            if not started:
                self._slots.release()

    async def _claim_and_start(self, queued: DeployQueued) -> bool:
        worker, lease = self.id, timedelta(seconds=self._settings.lease_s)

        def claim(record: DeployRecord) -> DeployRecord:
            if record.state is not DeployState.QUEUED:
                raise LeaseLost(record.id, record.worker)
            return record.model_copy(
                update={
                    "state": DeployState.RUNNING,
                    "worker": worker,
                    "lease_until": utc_now() + lease,
                    "updated_at": utc_now(),
                }
            )

        try:
            claimed = await self._deploys.mutate(queued.deploy_id, claim)
        except (KeyError, LeaseLost):
            return False  # gone, cancelled while queued, or taken already
        journal = Journal(self._bus, self._deploys, claimed.value, worker)
        rollout = self._target.rollout(
            claimed.key, claimed.value.spec, claimed.value.target_state, journal.save_target_state
        )
        execution = Execution(journal, rollout, self._bus, self._settings, self._trail)
        task = asyncio.create_task(self._execute(execution))
        self._running[claimed.key] = (execution, task)
        return True

    async def _execute(self, execution: Execution) -> None:
        record = execution.journal.record
        try:
            await execution.run()
        except (BusUnavailable, LeaseLost) as exc:
            log.warning("deploy %s ended without its last words: %s", record.id, exc)
        except Exception:
            log.exception("deploy %s failed inside the deployer", record.id)
        finally:
            self._running.pop(record.id, None)
            self._slots.release()
            with contextlib.suppress(BusUnavailable, nats.errors.Error, TimeoutError):
                current = await self._deploys.get(record.id)
                if current is not None and current.value.state.finished:
                    await self._locks.release(record.spec.host or "", record.spec.name, record.id)

    # -- deploys whose replica died -----------------------------------------------

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._settings.sweep_interval_s)
            try:
                for held in await self._locks.held():
                    if held.value.host == self._settings.host:
                        await self._check(held.value.deploy_id)
            except (BusUnavailable, DeployerError, nats.errors.Error, TimeoutError) as exc:
                log.warning("could not sweep for lapsed leases: %s", exc)

    async def _check(self, deploy_id: str) -> None:
        found = await self._deploys.get(deploy_id)
        if found is None or deploy_id in self._running:
            return
        record = found.value
        if record.state is not DeployState.RUNNING or record.lease_until is None:
            return
        if record.lease_until > utc_now():
            return
        worker, lease = self.id, timedelta(seconds=self._settings.lease_s)
        dead = record.worker

        def take_over(current: DeployRecord) -> DeployRecord:
            lapsed = current.lease_until is not None and current.lease_until <= utc_now()
            if current.state is not DeployState.RUNNING or current.worker != dead or not lapsed:
                raise LeaseLost(current.id, current.worker)
            return current.model_copy(
                update={"worker": worker, "lease_until": utc_now() + lease, "updated_at": utc_now()}
            )

        try:
            taken = await self._deploys.mutate(deploy_id, take_over)
        except LeaseLost:
            return
        log.warning(
            "deploy %s: replica %s stopped renewing its lease; rolling back", deploy_id, dead
        )
        task = asyncio.create_task(self._recover(taken.value, dead))
        self._tasks.append(task)

    async def _recover(self, record: DeployRecord, dead: str | None) -> None:
        """Roll back a deploy whose replica died; past the switch the new version serves
        already, so then only the clean-up is finished and the deploy succeeds."""
        journal = Journal(self._bus, self._deploys, record, self.id)
        rollout = self._target.rollout(
            record.id, record.spec, record.target_state, journal.save_target_state
        )
        reason = (
            f"the deployer replica {dead} stopped answering during step {record.step} "
            f"(its lease lapsed at {record.lease_until:%H:%M:%S} UTC)"
        )
        try:
            if record.step in {DeployStep.CLEANUP, DeployStep.DONE}:
                await self._finish_clean_up(journal, rollout, reason)
            else:
                await roll_back(journal, rollout, DeployState.FAILED, reason)
        except (BusUnavailable, LeaseLost, StepFailed) as exc:
            log.warning("deploy %s: recovery stopped: %s", record.id, exc)
            return
        with contextlib.suppress(BusUnavailable, nats.errors.Error, TimeoutError):
            await self._locks.release(record.spec.host or "", record.spec.name, record.id)

    @staticmethod
    async def _finish_clean_up(journal: Journal, rollout: Rollout, reason: str) -> None:
        await journal.event(DeployStep.CLEANUP, StepState.STARTED, f"{reason}; finishing")
        try:
            await journal.event(DeployStep.CLEANUP, StepState.FINISHED, await rollout.clean_up())
        except StepFailed as exc:
            await journal.event(DeployStep.CLEANUP, StepState.FAILED, f"left behind: {exc.reason}")
        spec = journal.record.spec
        await journal.finish(
            DeployState.SUCCEEDED, f"{spec.name} on {spec.host} now runs {spec.image}"
        )
