"""One replica per thing (a collector per Kubernetes cluster, an alerter per source): a
lease in a JetStream KV bucket.

The record of a thing names its holder and when the lease runs out. A replica takes
a thing whose record is absent or has run out, renews it every third of the lease,
and every write is revision-checked, so two replicas never both believe they hold it:
the loser of a race gets `RevisionConflict` and stays a standby. A holder that dies
stops renewing and a standby takes over once `until` has passed (clocks of replicas
are assumed to agree within a fraction of the lease).
"""

import contextlib
import time

from vigil.bus import Bus
from vigil.errors import RevisionConflict
from vigil.messages import ClusterLease
from vigil.records import Records, record_key
from vigil.streams import BucketSpec


class Leases:
    def __init__(self, records: Records[ClusterLease], holder: str, lease_s: float) -> None:
        self._records = records
        self._holder = holder
        self._lease_s = lease_s
        self._revisions: dict[str, int] = {}

    @classmethod
    async def open(cls, bus: Bus, bucket: BucketSpec, holder: str, lease_s: float) -> "Leases":
        return cls(await Records.open(bus, bucket, ClusterLease), holder, lease_s)

    async def hold(self, cluster: str) -> bool:
        """Take or renew the lease on `cluster`; True while this replica holds it."""
        key = record_key(cluster)
        lease = ClusterLease(holder=self._holder, until=time.time() + self._lease_s)
        try:
            revision = self._revisions.get(cluster)
            if revision is not None:
                self._revisions[cluster] = await self._records.update(key, lease, revision)
                return True
            current = await self._records.get(key)
            if current is None:
                self._revisions[cluster] = await self._records.create(key, lease)
            elif current.value.holder == self._holder or current.value.until < time.time():
                self._revisions[cluster] = await self._records.update(key, lease, current.revision)
            else:
                return False
        except RevisionConflict:  # another replica wrote first: it holds it
            self._revisions.pop(cluster, None)
            return False
        return True

    def forget(self, cluster: str) -> None:
        """The lease is lost (not renewed in time): read it afresh next time."""
        self._revisions.pop(cluster, None)

    async def release(self, cluster: str) -> None:
        """Give the lease up (on shutdown), so a standby takes over at once."""
        revision = self._revisions.pop(cluster, None)
        if revision is None:
            return
        lease = ClusterLease(holder=self._holder, until=0)
        with contextlib.suppress(RevisionConflict):  # taken over already
            await self._records.update(record_key(cluster), lease, revision)
