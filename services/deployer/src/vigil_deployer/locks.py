"""One deploy at a time per service and host.

A deploy takes the lock `{host}.{name}` when it is created and lets it go when it ends;
a second deploy of the same service on the same host is refused (`Busy`, naming the
deploy that holds it) rather than queued behind it: the operator sees at once why, and
decides whether to wait or cancel. A lock whose deploy has ended (a replica died
between the end and the release) is taken over. The locks held are exactly the
deploys in flight, which is what the lease sweep reads.
"""

import contextlib
from datetime import datetime

from pydantic import BaseModel

from vigil.errors import RevisionConflict
from vigil.messages import DeployRecord, utc_now
from vigil.records import Records, Versioned
from vigil_deployer.errors import DeployerError

_ATTEMPTS = 5


class ServiceLock(BaseModel):
    deploy_id: str
    host: str
    name: str
    since: datetime


class Busy(DeployerError):
    def __init__(self, host: str, name: str, holder: DeployRecord) -> None:
        self.holder = holder
        super().__init__(
            f"{name} on {host} is being deployed by {holder.id} ({holder.state}, step "
            f"{holder.step}, started by {holder.requested_by.name}); wait for it to end "
            "or cancel it"
        )


def lock_key(host: str, name: str) -> str:
    return f"{host}.{name}"


class ServiceLocks:
    def __init__(self, locks: Records[ServiceLock], deploys: Records[DeployRecord]) -> None:
        self._locks = locks
        self._deploys = deploys

    async def acquire(self, host: str, name: str, deploy_id: str) -> None:
        key = lock_key(host, name)
        lock = ServiceLock(deploy_id=deploy_id, host=host, name=name, since=utc_now())
        for _ in range(_ATTEMPTS):
            try:
                await self._locks.create(key, lock)
                return
            except RevisionConflict:
                held = await self._locks.get(key)
            if held is None:
                continue
            holder = await self._deploys.get(held.value.deploy_id)
            if holder is not None and not holder.value.state.finished:
                raise Busy(host, name, holder.value)
            try:  # its deploy has ended: the lock is stale
                await self._locks.delete(key, revision=held.revision)
            except RevisionConflict:
                continue
        raise RevisionConflict("DEPLOY_LOCKS", key)

    async def release(self, host: str, name: str, deploy_id: str) -> None:
        key = lock_key(host, name)
        held = await self._locks.get(key)
        if held is not None and held.value.deploy_id == deploy_id:
            with contextlib.suppress(RevisionConflict):  # taken over meanwhile: not ours
                await self._locks.delete(key, revision=held.revision)

    async def held(self) -> list[Versioned[ServiceLock]]:
        return await self._locks.all()
