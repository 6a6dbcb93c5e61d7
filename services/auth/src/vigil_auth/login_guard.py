"""Failed logins slow down further attempts: per username at one address, and per address.

Two budgets, so that no address can lock out anyone but itself:

- **A username at an address** (the pair) has the strict budget: after
  `login_free_failures` failures each further one locks that pair for `login_backoff_s`,
  doubling up to `login_backoff_max_s`. It stops guessing one account from one place.
  A stranger who runs it up locks only themselves: the same user at another address
  is not slowed. A success clears the pair's count.
- **An address** (whatever usernames it tries) has a looser budget, against password
  spraying (one guess each for many names): `login_address_free_failures` failures
  within `ADDRESS_WINDOW`, then locks doubling from `login_backoff_s` up to the shorter
  `login_address_backoff_max_s`. Only that address is slowed, and its count restarts
  an hour after its first failure, so a steady trickle of typos never adds up. A
  success does not clear it (else a sprayer would clear it with an account of its own).

Behind a proxy that hides client addresses every client shares one address. The
address budget is then everyone's, so it is loose on purpose: a few bad logins (the
reported case: five, for random names) lock no one out, and no lock lasts longer than
`login_address_backoff_max_s`, while a sprayer is cut from what argon2 alone allows
(some tens of guesses a second) to about 110 an hour (50 free, then locks of 1, 2, 4
... 60 s). While one keeps spraying, the right passwords behind that address compete
with it for the moments between locks: no budget can tell them apart from the
sprayer's guesses before checking them, and checking is what it must ration. The pair
budget becomes per username there. The cure is the proxy sending real addresses (the
gateway's trusted proxies).

**No username-wide slowdown.** A lock on a username whatever the address would let
anyone lock any user out from everywhere, by failing on purpose. Guessing one account
from many addresses is bounded instead by argon2's cost (`passwords.Passwords`:
memory-hard, at most `max_concurrent_hashes` at once per replica, the same cost for
unknown users), by each address's own budgets, and by passwords of at least eight
characters; every failure is logged with its address for alerting.

Counters live in the LOGIN_FAILURES bucket, so every replica sees the same ones, and
the bucket forgets a counter an hour after its last failure. An attempt while locked
is refused with `RATE_LIMITED` and a `retry_after_s`, without checking the password
and without counting as a failure. Unknown usernames are counted like real ones, so
the answers reveal nothing.
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from vigil.ctl import Refused
from vigil.errors import RevisionConflict
from vigil.messages import ErrorCode
from vigil.records import Records, record_key
from vigil.streams import LOGIN_FAILURES
from vigil_auth.clock import Clock

log = logging.getLogger(__name__)

ADDRESS_WINDOW = LOGIN_FAILURES.ttl or timedelta(hours=1)
"""An address's count restarts this long after its first failure (the bucket's memory)."""

_WRITE_ATTEMPTS = 5
_MAX_DOUBLINGS = 30


class FailedLogins(BaseModel):
    model_config = ConfigDict(frozen=True)

    failures: int
    last_failure_at: datetime
    first_failure_at: datetime | None = None  # None in records of older versions


@dataclass(frozen=True)
class Budget:
    """How many failures a key has for free, how it is slowed after, and for how long."""

    free_failures: int
    backoff: timedelta
    backoff_max: timedelta
    window: timedelta | None = None
    """A count whose first failure is older than this starts again; None: the bucket's
    TTL (an hour without failure) or a success clears it."""

    def locked_until(self, record: FailedLogins, now: datetime) -> datetime:
        if self._expired(record, now):
            return now
        over = record.failures - self.free_failures
        if over <= 0:
            return record.last_failure_at
        delay = self.backoff * (1 << min(over - 1, _MAX_DOUBLINGS))
        return record.last_failure_at + min(delay, self.backoff_max)

    def counted(self, record: FailedLogins | None, now: datetime) -> FailedLogins:
        """`record` with one more failure at `now`."""
        if record is None or self._expired(record, now):
            return FailedLogins(failures=1, last_failure_at=now, first_failure_at=now)
        return FailedLogins(
            failures=record.failures + 1,
            last_failure_at=now,
            first_failure_at=record.first_failure_at or record.last_failure_at,
        )

    def _expired(self, record: FailedLogins, now: datetime) -> bool:
        first = record.first_failure_at or record.last_failure_at
        return self.window is not None and now - first >= self.window


class LoginGuard:
    def __init__(
        self, records: Records[FailedLogins], clock: Clock, *, pair: Budget, address: Budget
    ) -> None:
        self._records = records
        self._clock = clock
        self._pair = pair
        self._address = address

    async def check(self, username: str, client: str) -> None:
        """Refuse with `RATE_LIMITED` while this username here, or this address, is locked."""
        now = self._clock()
        wait = timedelta(0)
        for key, budget in self._budgets(username, client):
            found = await self._records.get(key)
            if found is not None:
                wait = max(wait, budget.locked_until(found.value, now) - now)
        if wait > timedelta(0):
            seconds = math.ceil(wait.total_seconds())
            raise Refused(
                ErrorCode.RATE_LIMITED,
                f"too many failed logins; try again in {seconds} s",
                retry_after_s=float(seconds),
            )

    async def failed(self, username: str, client: str) -> None:
        for key, budget in self._budgets(username, client):
            await self._count(key, budget)

    async def succeeded(self, username: str, client: str) -> None:
        """Clear the pair's count; the address keeps its own (see the module docstring)."""
        key = _pair_key(username, client)
        if await self._records.get(key) is not None:
            await self._records.delete(key)

    def _budgets(self, username: str, client: str) -> list[tuple[str, Budget]]:
        budgets = [(_pair_key(username, client), self._pair)]
        if client:  # no address known (a caller on the bus): the pair alone
            budgets.append((_address_key(client), self._address))
        return budgets

    async def _count(self, key: str, budget: Budget) -> None:
        for _ in range(_WRITE_ATTEMPTS):
            now = self._clock()
            found = await self._records.get(key)
            try:
                if found is None:
                    await self._records.create(key, budget.counted(None, now))
                else:
                    counted = budget.counted(found.value, now)
                    await self._records.update(key, counted, found.revision)
            except RevisionConflict:
                continue  # a failure counted elsewhere at the same moment: count on top
            return
        log.warning("could not count a failed login under %s (too much contention)", key)


def _pair_key(username: str, client: str) -> str:
    return f"pair.{record_key(username.lower())}.{record_key(client)}"


def _address_key(client: str) -> str:
    return "addr." + record_key(client)
