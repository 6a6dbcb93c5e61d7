"""One deploy, step by step: validate → pull → create → start → health → (confirm) →
switch → clean up → done, each journaled; any failure, a cancel, a declined switch or
this replica stopping ends it with a rollback, journaled too. When starting stops what
serves (Docker's recreate), the confirmation comes before the start instead, so the
old container serves while the question waits, and a no leaves it untouched.

Beside the steps a keeper renews the lease and reads the record, so a cancel asked on
any replica reaches the steps within a fraction of a second (and cancels them again
until they stop: see `_cancel_again`). Once the switch is done
the new version serves, so a cancel then is too late and is only noted.
"""

import asyncio
import contextlib
import logging
from typing import Any

import nats.errors

from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.errors import BusUnavailable, RevisionConflict
from vigil.messages import (
    AuditActor,
    AuditOutcome,
    DeployState,
    DeployStep,
    PullProgress,
    StepState,
)
from vigil_deployer.confirmation import ask_to_switch
from vigil_deployer.errors import Declined, LeaseLost, StepFailed
from vigil_deployer.health import describe
from vigil_deployer.journal import Journal
from vigil_deployer.pull import summary
from vigil_deployer.settings import DeployerSettings
from vigil_deployer.target import Rollout

log = logging.getLogger(__name__)

_WATCH_S = 0.2


class Execution:
    def __init__(
        self,
        journal: Journal,
        rollout: Rollout,
        bus: Bus,
        settings: DeployerSettings,
        trail: AuditTrail,
    ) -> None:
        self.journal = journal
        self._trail = trail
        self._rollout = rollout
        self._bus = bus
        self._settings = settings
        self._steps: asyncio.Task[None] | None = None
        self._stopping: tuple[DeployState, str] | None = None
        self._lost = False
        self._switched = False
        self._switching = False
        self._last_pull: tuple[float, tuple[str, ...]] = (-1.0, ())

    def stop(self, reason: str) -> None:
        """This replica is shutting down: roll back and end the deploy failed."""
        self._interrupt(DeployState.FAILED, reason)

    def _interrupt(self, state: DeployState, reason: str) -> None:
        if self._switching:
            return  # asked again on the keeper's next look, when the switch is done
        if self._stopping is None and not self._switched and self._steps is not None:
            self._stopping = (state, reason)
            self._steps.cancel()

    async def run(self) -> None:
        self._steps = asyncio.create_task(
            self._run_steps(), name=f"deploy-{self.journal.deploy_id}"
        )
        keeper = asyncio.create_task(self._keep(), name=f"lease-{self.journal.deploy_id}")
        try:
            await asyncio.wait({self._steps})
        finally:
            keeper.cancel()
            self._steps.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait({keeper, self._steps}, timeout=5)
        await self._conclude(self._steps)

    async def _conclude(self, steps: asyncio.Task[None]) -> None:
        if self._lost:
            log.warning("deploy %s was taken over by another replica", self.journal.deploy_id)
            return
        if self._switched and not steps.cancelled() and steps.exception() is not None:
            # The new version serves; a failure now (the journal unreachable) must not
            # undo it. The lease lapses and another replica finishes the clean-up.
            log.warning(
                "deploy %s failed after its switch: %s", self.journal.deploy_id, steps.exception()
            )
            return
        recorded = None  # the record's reason, when it says more than the rollback's
        if steps.cancelled():
            state, reason = self._stopping or (DeployState.FAILED, "interrupted")
        else:
            failure = steps.exception()
            if failure is None:
                return
            if isinstance(failure, LeaseLost):
                log.warning("deploy %s: %s", self.journal.deploy_id, failure)
                return
            if isinstance(failure, StepFailed):
                state, reason = DeployState.FAILED, f"{failure.step}: {failure.reason}"
                recorded = f"{failure.step}: {failure.said}"
            elif isinstance(failure, Declined):
                state = DeployState.FAILED if failure.timed_out else DeployState.CANCELLED
                reason = failure.reason
            elif isinstance(failure, BusUnavailable):
                state, reason = DeployState.FAILED, f"the journal could not be written: {failure}"
            else:
                log.error("deploy %s failed inside", self.journal.deploy_id, exc_info=failure)
                state, reason = DeployState.FAILED, f"the deployer failed: {failure!r}"[:1000]
        await roll_back(self.journal, self._rollout, state, reason, recorded)

    # -- the steps ----------------------------------------------------------------

    async def _run_steps(self) -> None:
        j, rollout, spec = self.journal, self._rollout, self.journal.record.spec
        await self._step(DeployStep.VALIDATE, "checking the spec and the host", rollout.validate)

        await j.event(DeployStep.PULL, StepState.STARTED, f"looking for {spec.image}")
        try:
            pulled = await rollout.pull(self._report_pull)
        except StepFailed as exc:
            await j.event(DeployStep.PULL, StepState.FAILED, exc.said)
            raise
        if pulled is None:
            await j.event(DeployStep.PULL, StepState.SKIPPED, f"{spec.image} is present already")
        else:
            await j.event(DeployStep.PULL, StepState.FINISHED, pulled, percent=100.0)

        await self._step(DeployStep.CREATE, f"creating a container of {spec.image}", rollout.create)
        # Nothing has stopped serving yet. When starting would stop it (recreate), the
        # question comes now: however long it waits, the old container serves.
        ask_first = spec.confirm and rollout.start_interrupts
        if ask_first:
            await self._confirm("before the old container stops; it serves meanwhile")
        await self._step(DeployStep.START, f"starting ({spec.strategy})", rollout.start)
        await self._step(
            DeployStep.HEALTH, f"waiting until {describe(spec.health)}", rollout.wait_healthy
        )
        if spec.confirm and not ask_first:
            await self._confirm("to the healthy new container")

        await self._step(
            DeployStep.SWITCH, f"switching {spec.name} to the new container", self._switch
        )
        await j.event(DeployStep.CLEANUP, StepState.STARTED, "removing the old container")
        try:
            await j.event(DeployStep.CLEANUP, StepState.FINISHED, await rollout.clean_up())
        except StepFailed as exc:  # the new version serves: a leftover is only a warning
            await j.event(DeployStep.CLEANUP, StepState.FAILED, f"left behind: {exc.reason}")
        await j.finish(DeployState.SUCCEEDED, f"{spec.name} on {spec.host} now runs {spec.image}")

    async def _confirm(self, when: str) -> None:
        """Ask the user who started the deploy; `Declined` on a no or a silence."""
        j, spec = self.journal, self.journal.record.spec
        who = j.record.requested_by.name
        await j.event(
            DeployStep.CONFIRM,
            StepState.STARTED,
            f"asking {who} to confirm the switch {when} (within {spec.confirm_timeout_s:g} s)",
        )
        try:
            yes = await ask_to_switch(
                self._bus,
                j.record,
                spec.confirm_timeout_s,
                stops_first=self._rollout.start_interrupts,
            )
        except Declined as exc:
            await j.event(DeployStep.CONFIRM, StepState.FAILED, exc.reason)
            self._confirmation(AuditOutcome.REFUSED, exc.reason)
            raise
        await j.event(DeployStep.CONFIRM, StepState.FINISHED, f"confirmed by {yes}")
        self._confirmation(AuditOutcome.DONE, f"confirmed by {yes}")

    def _confirmation(self, outcome: AuditOutcome, said: str) -> None:
        """The answer of the user who started the deploy (they are the only one asked)."""
        who = self.journal.record.requested_by
        actor = AuditActor(kind=who.kind, id=who.id, name=who.name)
        target = f"deploy {self.journal.record.id}"
        self._trail.record("deploy.confirm", outcome, actor, target=target, detail=said)

    async def _switch(self) -> str:
        self._switching = True  # a cancel waits: half a switch is undone by a rollback only
        try:
            said = await self._rollout.switch()
        finally:
            self._switching = False
        self._switched = True
        return said

    async def _step(self, step: DeployStep, starting: str, action: Any) -> None:
        await self.journal.event(step, StepState.STARTED, starting)
        try:
            said = await action()
        except StepFailed as exc:
            await self.journal.event(step, StepState.FAILED, exc.said)
            raise
        await self.journal.event(step, StepState.FINISHED, said)

    async def _report_pull(self, progress: PullProgress) -> None:
        """Journal pull progress when a layer changes state or the whole moves on by a
        point: a long pull stays a few hundred events, which a client replays at once."""
        statuses = tuple(layer.status for layer in progress.layers)
        last_percent, last_statuses = self._last_pull
        moved = progress.percent >= last_percent + 1.0 or progress.percent == 100.0
        if not moved and statuses == last_statuses:
            return
        self._last_pull = (progress.percent, statuses)
        await self.journal.event(
            DeployStep.PULL,
            StepState.PROGRESS,
            summary(progress),
            progress=progress,
            percent=progress.percent,
        )

    # -- lease and cancel ---------------------------------------------------------

    async def _keep(self) -> None:
        j, settings = self.journal, self._settings
        renew_every = settings.lease_s / 3
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        while True:
            await asyncio.sleep(_WATCH_S)
            self._cancel_again()
            try:
                if loop.time() - renewed >= renew_every:
                    record = await j.renew(settings.lease_s)
                    renewed = loop.time()
                else:
                    current = await j.current()
                    if current.worker != j.worker:
                        raise LeaseLost(current.id, current.worker)
                    record = current
            except LeaseLost:
                self._lost = True
                if self._steps is not None:
                    self._steps.cancel()
                return
            except (BusUnavailable, RevisionConflict, nats.errors.Error, TimeoutError) as exc:
                log.warning("deploy %s: lease not renewed (retrying): %s", j.deploy_id, exc)
                continue
            if record.cancel_requested_by and self._stopping is None:
                if self._switched:
                    await self._note_too_late(record.cancel_requested_by)
                else:
                    self._interrupt(
                        DeployState.CANCELLED, f"cancelled by {record.cancel_requested_by}"
                    )

    def _cancel_again(self) -> None:
        """An interrupted deploy whose steps still run is cancelled again: on Python 3.11
        a cancel that races the end of an `asyncio.wait_for` (nats-py's, in a journal
        write) is swallowed, and the steps would run on as if never interrupted."""
        if self._stopping is None or self._switched or self._switching:
            return
        if self._steps is not None and not self._steps.done():
            self._steps.cancel()

    async def _note_too_late(self, who: str) -> None:
        self._stopping = (DeployState.SUCCEEDED, "")  # note it once
        with contextlib.suppress(BusUnavailable, LeaseLost):
            await self.journal.event(
                DeployStep.SWITCH,
                StepState.PROGRESS,
                f"{who} asked to cancel, too late: the new container already serves",
            )


async def roll_back(
    journal: Journal,
    rollout: Rollout,
    state: DeployState,
    reason: str,
    recorded: str | None = None,
) -> None:
    """Undo the deploy and end it with `state`; a failed rollback is said loudly. The
    containers are put back even when the journal cannot be written (NATS away): the
    record then still says running, and a sweep finishes it once NATS is back.

    The journal says `reason`; the record keeps `recorded` when given: the reason with
    the failed step's details (a container's last output), which that step's own
    event has said already, so the journal says them once."""
    with contextlib.suppress(BusUnavailable):
        await journal.event(DeployStep.ROLLBACK, StepState.STARTED, f"rolling back: {reason}")
    try:
        undone = await rollout.roll_back()
    except StepFailed as exc:
        await journal.event(DeployStep.ROLLBACK, StepState.FAILED, exc.reason)
        await journal.finish(
            DeployState.FAILED,
            f"{reason}; the rollback failed too: {exc.reason}",
            recorded or reason,
        )
        return
    await journal.event(DeployStep.ROLLBACK, StepState.FINISHED, undone)
    await journal.finish(state, f"{state}: {reason}; rolled back", recorded or reason)
