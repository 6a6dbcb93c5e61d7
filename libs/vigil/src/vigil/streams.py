"""The JetStream streams Vigil keeps, declared once.

A service lists the streams it writes or reads and `vigil.bus.Bus` creates them
idempotently at connect time (and again after a reconnect, in case the server came
back without its store).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from vigil.subjects import ANY, Subjects


@dataclass(frozen=True)
class StreamSpec:
    base_name: str
    subjects: Callable[[Subjects], list[str]]
    description: str
    max_msgs_per_subject: int = -1
    max_age: timedelta | None = None
    storage: StorageType = StorageType.FILE

    def config(self, subjects: Subjects) -> StreamConfig:
        return StreamConfig(
            name=subjects.stream_name(self.base_name),
            description=self.description,
            subjects=self.subjects(subjects),
            retention=RetentionPolicy.LIMITS,
            max_msgs_per_subject=self.max_msgs_per_subject,
            max_age=self.max_age.total_seconds() if self.max_age else None,
            storage=self.storage,
        )


LATEST = StreamSpec(
    base_name="LATEST",
    subjects=lambda s: [s.all_metrics(), s.all_status()],
    description="The newest message of every metrics and status subject.",
    max_msgs_per_subject=1,
)

ALERTS = StreamSpec(
    base_name="ALERTS",
    subjects=lambda s: [s.alerts(ANY)],
    description="Threshold alerts raised and resolved, for a week.",
    max_age=timedelta(days=7),
)
