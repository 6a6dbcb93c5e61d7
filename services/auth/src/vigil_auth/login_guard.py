"""Failed logins slow down further attempts, per username and per client address.

Counters live in the LOGIN_FAILURES bucket, so every replica sees the same ones, and
the bucket forgets a counter an hour after its last failure. The first
`free_failures` cost nothing; after that each failure locks the name (or address) for
`backoff`, doubling with every further failure up to `backoff_max`. An attempt while
locked is refused with `RATE_LIMITED` and a `retry_after_s`, without checking the
password and without counting as a failure. A success clears the username's counter,
not the address's (else an attacker could clear it with an account of their own).
Unknown usernames are counted like real ones, so the answers reveal nothing.
"""

import logging
import math
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from vigil.ctl import Refused
from vigil.errors import RevisionConflict
from vigil.messages import ErrorCode
from vigil.records import Records, record_key
from vigil_auth.clock import Clock

log = logging.getLogger(__name__)

_WRITE_ATTEMPTS = 5
_MAX_DOUBLINGS = 30


class FailedLogins(BaseModel):
    model_config = ConfigDict(frozen=True)

    failures: int
    last_failure_at: datetime


class LoginGuard:
    def __init__(
        self,
        records: Records[FailedLogins],
        clock: Clock,
        *,
        free_failures: int,
        backoff: timedelta,
        backoff_max: timedelta,
    ) -> None:
        self._records = records
        self._clock = clock
        self._free_failures = free_failures
        self._backoff = backoff
        self._backoff_max = backoff_max

    async def check(self, username: str, client: str) -> None:
        """Refuse with `RATE_LIMITED` while the username or the address is locked."""
        now = self._clock()
        wait = timedelta(0)
        for key in _keys(username, client):
            found = await self._records.get(key)
            if found is not None:
                wait = max(wait, self._locked_until(found.value) - now)
        if wait > timedelta(0):
            seconds = math.ceil(wait.total_seconds())
            raise Refused(
                ErrorCode.RATE_LIMITED,
                f"too many failed logins; try again in {seconds} s",
                retry_after_s=float(seconds),
            )

    async def failed(self, username: str, client: str) -> None:
        for key in _keys(username, client):
            await self._count(key)

    async def succeeded(self, username: str) -> None:
        key = _username_key(username)
        if await self._records.get(key) is not None:
            await self._records.delete(key)

    def _locked_until(self, record: FailedLogins) -> datetime:
        over = record.failures - self._free_failures
        if over <= 0:
            return record.last_failure_at
        delay = self._backoff * (1 << min(over - 1, _MAX_DOUBLINGS))
        return record.last_failure_at + min(delay, self._backoff_max)

    async def _count(self, key: str) -> None:
        for _ in range(_WRITE_ATTEMPTS):
            now = self._clock()
            found = await self._records.get(key)
            try:
                if found is None:
                    await self._records.create(key, FailedLogins(failures=1, last_failure_at=now))
                else:
                    counted = FailedLogins(failures=found.value.failures + 1, last_failure_at=now)
                    await self._records.update(key, counted, found.revision)
            except RevisionConflict:
                continue  # a failure counted elsewhere at the same moment: count on top
            return
        log.warning("could not count a failed login under %s (too much contention)", key)


def _username_key(username: str) -> str:
    return "user." + record_key(username.lower())


def _keys(username: str, client: str) -> list[str]:
    keys = [_username_key(username)]
    if client:
        keys.append("addr." + record_key(client))
    return keys
