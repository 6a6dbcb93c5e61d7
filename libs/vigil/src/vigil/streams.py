"""The JetStream streams and key-value buckets Vigil keeps, declared once.

A service lists the streams and buckets it writes or reads; the provisioner makes them
(`vigil.provisioning`), and `vigil.bus.Bus` waits for them at connect time (and again
after a reconnect, in case the server came back without its store). Each spec's
`config` is the JetStream stream behind it (a bucket is a stream too).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from nats.js.api import (
    DiscardPolicy,
    RePublish,
    RetentionPolicy,
    StorageType,
    StoreCompression,
    StreamConfig,
)

from vigil.subjects import ANY, Subjects

if TYPE_CHECKING:
    from vigil.settings import VigilSettings


@dataclass(frozen=True)
class StreamSpec:
    base_name: str
    subjects: Callable[[Subjects], list[str]]
    description: str
    max_msgs_per_subject: int = -1
    max_msgs: int = -1
    max_age: timedelta | None = None
    storage: StorageType = StorageType.FILE
    retention: RetentionPolicy = RetentionPolicy.LIMITS
    republished: Callable[[Subjects], RePublish] | None = None
    """JetStream publishes each message it stores again, on another subject (a copy that
    another stream may keep): the copy is made as the message is stored, so none is
    lost, however soon the next one replaces it."""
    compressed: bool = False
    """S2 compression of its files (costs a little CPU per block, saves most of the disk)."""
    message_ttl: bool = False
    """Each message may carry its own age limit (`Nats-TTL`)."""
    duplicate_window: timedelta | None = None
    """How long a `Nats-Msg-Id` is remembered (JetStream's default: 2 min)."""
    append_only: bool = False
    """No message may be deleted and the stream not purged, by anyone: only its age
    removes what it holds."""
    direct: bool = False
    """Direct gets: any server holding it answers a get, without a consumer (a role may
    be granted the last message of its own subjects alone: `busauth.permissions`)."""
    limits: "Callable[[VigilSettings], tuple[timedelta, int]] | None" = None
    """Its age and byte limits from the provisioner's settings (an operator's choice),
    over `max_age`."""

    def stream(self, subjects: Subjects) -> str:
        """The JetStream stream's name under `subjects`' prefix."""
        return subjects.stream_name(self.base_name)

    def config(
        self, subjects: Subjects, replicas: int = 1, settings: "VigilSettings | None" = None
    ) -> StreamConfig:
        max_age, max_bytes = self.max_age, -1
        if self.limits is not None and settings is not None:
            max_age, max_bytes = self.limits(settings)
        return StreamConfig(
            name=self.stream(subjects),
            description=self.description,
            subjects=self.subjects(subjects),
            retention=self.retention,
            max_msgs_per_subject=self.max_msgs_per_subject,
            max_msgs=self.max_msgs,
            max_bytes=max_bytes,
            max_age=max_age.total_seconds() if max_age else None,
            storage=self.storage,
            num_replicas=replicas,
            republish=self.republished(subjects) if self.republished else None,
            compression=StoreCompression.S2 if self.compressed else None,
            allow_msg_ttl=True if self.message_ttl else None,
            duplicate_window=(
                self.duplicate_window.total_seconds() if self.duplicate_window else 0
            ),
            deny_delete=self.append_only,
            deny_purge=self.append_only,
            allow_direct=True if self.direct else None,
        )


LATEST = StreamSpec(
    base_name="LATEST",
    subjects=lambda s: [s.all_metrics(), s.all_status()],
    description="The newest message of every metrics and status subject; each metrics "
    "sample copied on `raw.metrics.>` as it is stored (HISTORY_RAW keeps the copies).",
    max_msgs_per_subject=1,
    republished=lambda s: RePublish(src=s.all_metrics(), dest=s.raw_metrics_copies()),
)

ALERTS = StreamSpec(
    base_name="ALERTS",
    subjects=lambda s: [s.alerts(ANY)],
    description="Threshold alerts raised and resolved, for a week.",
    max_age=timedelta(days=7),
)

LOGS = StreamSpec(
    base_name="LOGS",
    subjects=lambda s: [s.all_logs()],
    description="Log batches of followed containers and pods: a short window, for resume.",
    max_age=timedelta(hours=1),
    max_msgs_per_subject=20_000,  # batches per container or pod (a byte cap reserves storage)
)

LOGS_KEPT = StreamSpec(
    base_name="LOGS_KEPT",
    subjects=lambda s: [s.all_kept_logs()],
    description="Lines of retained containers, by name (every generation, with markers "
    "between them), S2-compressed, for the age and bytes the operator chose.",
    max_age=timedelta(days=7),
    compressed=True,
    direct=True,  # a collector reads where its sources' kept lines end (`logs.retention`)
    limits=lambda settings: (
        timedelta(seconds=settings.logs_keep_max_age_s),
        settings.logs_keep_max_bytes,
    ),
)

REVOKED = StreamSpec(
    base_name="REVOKED",
    subjects=lambda s: [s.auth_revoked()],
    description="Revoked sessions, users and API keys; gateways replay it at start.",
    max_age=timedelta(days=1),
)


CONNECTIONS = StreamSpec(
    base_name="CONNECTIONS",
    subjects=lambda s: [s.gateway_connections()],
    description="Sockets opened and closed on every gateway, for a day.",
    max_age=timedelta(days=1),
)


DEPLOY_EVENTS = StreamSpec(
    base_name="DEPLOY_EVENTS",
    subjects=lambda s: [s.deploy_events(ANY)],
    description="The journal of every deploy: each step, its progress and outcome.",
    max_age=timedelta(days=90),
)

AUDIT = StreamSpec(
    base_name="AUDIT",
    subjects=lambda s: [s.audit(ANY)],
    description="The audit trail: who did what, and what was refused, for 90 days.",
    max_age=timedelta(days=90),
    # A flood of refusals must not fill the disk: past this the oldest go (a byte cap
    # would reserve the storage up front).
    max_msgs=5_000_000,
    append_only=True,
)

DEPLOY_QUEUE = StreamSpec(
    base_name="DEPLOY_QUEUE",
    subjects=lambda s: [s.deploy_queue(ANY)],
    description="Deploys waiting for a deployer replica of their host; one takes each.",
    retention=RetentionPolicy.WORK_QUEUE,
)


HISTORY_RAW = StreamSpec(
    base_name="HISTORY_RAW",
    subjects=lambda s: [s.raw_metrics_copies()],
    description="Every metrics sample as the collectors published it, for a while: the "
    "copies LATEST republishes (it keeps only the newest), the history's raw tier.",
    max_age=timedelta(hours=2),  # the raw window (1 h) and time to roll it up after an outage
    compressed=True,
)

HISTORY = StreamSpec(
    base_name="HISTORY",
    subjects=lambda s: [s.all_history()],
    description="Metrics roll-ups (min, max, sum, last per step), one message per source "
    "and step; each message's retention is its tier's (`Nats-TTL`).",
    compressed=True,
    message_ttl=True,
    # A roll-up published again after a replica died is dropped while its id is
    # remembered: longer than a claim lives (`VIGIL_HISTORY_CLAIM_TTL_S` <= 300 s).
    duplicate_window=timedelta(minutes=10),
)


_KV_DUPLICATE_WINDOW_S = 120.0


@dataclass(frozen=True)
class BucketSpec:
    """A JetStream key-value bucket."""

    base_name: str
    description: str
    history: int = 1
    ttl: timedelta | None = None

    def stream(self, subjects: Subjects) -> str:
        """The JetStream stream behind the bucket (`KV_<bucket>`)."""
        return f"KV_{subjects.stream_name(self.base_name)}"

    def config(self, subjects: Subjects, replicas: int = 1) -> StreamConfig:
        """The stream behind the bucket, as nats-py's `create_key_value` makes it (whose
        KV config cannot say where a new stream goes: the provisioner needs that)."""
        bucket = subjects.stream_name(self.base_name)
        ttl = self.ttl.total_seconds() if self.ttl else None
        return StreamConfig(
            name=self.stream(subjects),
            description=self.description,
            subjects=[f"$KV.{bucket}.>"],
            allow_rollup_hdrs=True,
            allow_msg_ttl=True,
            deny_delete=True,
            discard=DiscardPolicy.NEW,
            duplicate_window=min(ttl, _KV_DUPLICATE_WINDOW_S) if ttl else _KV_DUPLICATE_WINDOW_S,
            max_age=ttl,
            max_consumers=-1,
            max_msgs=-1,
            max_msgs_per_subject=self.history,
            num_replicas=replicas,
            storage=StorageType.FILE,
        )


USERS = BucketSpec("AUTH_USERS", "Users: password hash, roles, cluster grant, disabled.")
API_KEYS = BucketSpec("AUTH_API_KEYS", "API keys: secret hash, role, grant, expiry, last use.")
SESSIONS = BucketSpec(
    "AUTH_SESSIONS", "Refresh-token sessions (hashes only).", ttl=timedelta(days=30)
)
SIGNING_KEYS = BucketSpec("AUTH_SIGNING_KEYS", "Token signing keys, current and retiring.")
LOGIN_FAILURES = BucketSpec(
    "AUTH_LOGIN_FAILURES", "Recent failed logins per username and address.", ttl=timedelta(hours=1)
)
RATE_LIMITS = BucketSpec(
    "GATEWAY_RATE_LIMITS",
    "Client messages per user and window, shared by every gateway.",
    ttl=timedelta(hours=1),
)
DEPLOYS = BucketSpec("DEPLOYS", "Deploy records: spec, who, when, state, worker and lease.")
DEPLOY_LOCKS = BucketSpec(
    "DEPLOY_LOCKS", "One running deploy per service and host: `{host}.{name}` -> deploy id."
)
DEPLOYERS = BucketSpec(
    "DEPLOYERS",
    "Deployer replicas and the host each serves, renewed while they run.",
    ttl=timedelta(seconds=15),
)
K8S_CLUSTERS = BucketSpec(
    "K8S_CLUSTERS", "Which collector replica follows each Kubernetes cluster, and until when."
)
HISTORY_CLAIMS = BucketSpec(
    "HISTORY_CLAIMS",
    "Roll-up windows a history replica is computing: `{tier}.{kind}.{source}.{window}`, "
    "each with a TTL so a dead replica's claim lapses.",
)
HISTORY_MARKS = BucketSpec(
    "HISTORY_MARKS",
    "How far each tier of each source is rolled up: `{tier}.{kind}.{source}` -> window end.",
)
ALERT_RULES = BucketSpec(
    "ALERT_RULES", "Alert rules, keyed by rule id: what the alerter evaluates."
)
ALERT_BOOK = BucketSpec(
    "ALERT_BOOK",
    "Every alert's latest transition and its acknowledgement, keyed by alert id.",
    ttl=timedelta(days=8),
)
ALERT_PROPOSALS = BucketSpec(
    "ALERT_PROPOSALS",
    "The confirmations of actions alerts proposed, keyed by proposal id: so each runs once.",
    ttl=timedelta(days=8),
)
ALERT_SILENCES = BucketSpec(
    "ALERT_SILENCES", "Silences and maintenance windows: matchers of alerts, for a time."
)
ALERTER_SOURCES = BucketSpec(
    "ALERTER_SOURCES",
    "Which alerter replica evaluates the rules of each source (a host, a cluster), until when.",
)
NOTIFY_CHANNELS = BucketSpec(
    "NOTIFY_CHANNELS", "Notification channels: Apprise URLs and webhooks, with their secrets."
)
NOTIFY_DELIVERIES = BucketSpec(
    "NOTIFY_DELIVERIES",
    "One marker per alert transition and channel: being sent (by whom, until when), sent, "
    "or given up; kept past the ALERTS stream's age, so no redelivery is sent twice.",
    ttl=timedelta(days=8),
)
NOTIFY_DEAD_LETTERS = BucketSpec(
    "NOTIFY_DEAD_LETTERS",
    "Transitions a channel never took after every attempt, with the last error (masked).",
    ttl=timedelta(days=30),
)


STREAMS: tuple[StreamSpec, ...] = (
    LATEST,
    ALERTS,
    LOGS,
    LOGS_KEPT,
    REVOKED,
    CONNECTIONS,
    DEPLOY_EVENTS,
    DEPLOY_QUEUE,
    HISTORY_RAW,
    HISTORY,
    AUDIT,
)
"""Every stream Vigil keeps: what the provisioner creates."""

BUCKETS: tuple[BucketSpec, ...] = (
    USERS,
    API_KEYS,
    SESSIONS,
    SIGNING_KEYS,
    LOGIN_FAILURES,
    RATE_LIMITS,
    DEPLOYS,
    DEPLOY_LOCKS,
    DEPLOYERS,
    K8S_CLUSTERS,
    HISTORY_CLAIMS,
    HISTORY_MARKS,
    NOTIFY_CHANNELS,
    NOTIFY_DELIVERIES,
    NOTIFY_DEAD_LETTERS,
    ALERT_RULES,
    ALERT_BOOK,
    ALERT_PROPOSALS,
    ALERT_SILENCES,
    ALERTER_SOURCES,
)
"""Every key-value bucket Vigil keeps: what the provisioner creates."""
