"""The journal of one deploy: its events on `deploy.{id}.events` and its record in KV.

Every viewer reads the events: each message has the spec's secret values masked.

The replica that holds a deploy writes both through a `Journal`: every record write is
revision-checked and refused with `LeaseLost` once another replica holds the deploy,
so a replica that was presumed dead cannot scribble over its successor's work.
"""

from datetime import timedelta
from typing import Any

from vigil.bus import Bus
from vigil.messages import (
    DeployEvent,
    DeployRecord,
    DeployState,
    DeployStep,
    PullProgress,
    StepState,
    utc_now,
)
from vigil.records import Records
from vigil_deployer.errors import LeaseLost


class Journal:
    def __init__(
        self, bus: Bus, records: Records[DeployRecord], record: DeployRecord, worker: str
    ) -> None:
        self._bus = bus
        self._records = records
        self.record = record
        self.worker = worker

    @property
    def deploy_id(self) -> str:
        return self.record.id

    async def event(
        self,
        step: DeployStep,
        status: StepState,
        message: str,
        *,
        progress: PullProgress | None = None,
        percent: float | None = None,
    ) -> None:
        """Journal one event; a step that starts or ends is also written to the record."""
        if status is not StepState.PROGRESS and step is not self.record.step:
            await self.change(step=step)
        await publish_event(
            self._bus,
            self.record,
            step,
            status,
            message,
            progress=progress,
            percent=percent,
            worker=self.worker,
        )

    async def change(self, **fields: Any) -> DeployRecord:
        """Write `fields` to the record, if this replica still holds the deploy."""
        worker = self.worker

        def change(current: DeployRecord) -> DeployRecord:
            if current.worker != worker:
                raise LeaseLost(current.id, current.worker)
            return current.model_copy(update={**fields, "updated_at": utc_now()})

        self.record = (await self._records.mutate(self.record.id, change)).value
        return self.record

    async def current(self) -> DeployRecord:
        """The record as it is now in KV (a cancel may have been asked in it)."""
        found = await self._records.get(self.record.id)
        if found is None:
            raise LeaseLost(self.record.id, None)
        return found.value

    async def renew(self, lease_s: float) -> DeployRecord:
        """Move the lease on; the current record comes back (a cancel may be asked in it)."""
        return await self.change(lease_until=utc_now() + timedelta(seconds=lease_s))

    async def save_target_state(self, state: dict[str, Any]) -> None:
        """What the target needs to roll back, should this replica die."""
        await self.change(target_state=state)

    async def finish(self, state: DeployState, message: str, reason: str | None = None) -> None:
        """The deploy's last record write and event."""
        await self.change(
            state=state, step=DeployStep.DONE, reason=reason, lease_until=None, worker=self.worker
        )
        status = StepState.FINISHED if state is DeployState.SUCCEEDED else StepState.FAILED
        await self.event(DeployStep.DONE, status, message)


async def publish_event(
    bus: Bus,
    record: DeployRecord,
    step: DeployStep,
    status: StepState,
    message: str,
    *,
    progress: PullProgress | None = None,
    percent: float | None = None,
    worker: str | None = None,
) -> None:
    event = DeployEvent(
        deploy_id=record.id,
        cluster=record.cluster,
        step=step,
        status=status,
        state=record.state,
        message=record.spec.mask(message)[:4000],  # e.g. a container's output quoting one
        progress=progress,
        percent=percent,
        worker=worker,
        time=utc_now(),
    )
    await bus.publish(bus.subjects.deploy_events(record.id), event)
