"""What each service may publish and subscribe on the bus, derived from the wire contract.

Every subject here comes from `vigil.subjects`, every stream and bucket from
`vigil.streams` and every request from `vigil.operations`, so a subject added to the
contract is added to the roles that use it here, and nowhere else. A role lists what it
may do; NATS refuses the rest (DESIGN rule 8):

- **data** it produces: the collector only its own host's metrics, status and logs (and
  its clusters'), the deployer journals and its host's work queue, auth revocations,
  the gateway the connection list and its samples of itself (`gateway.sampled.*`, which
  the alerter alone reads); auth, the deployer and the gateway each their own
  audit events (`audit.<role>`), which no service may delete (the stream denies it);
  the notifier only its audit events (it delivers off the bus), the alerter the
  alerts of its rules (`alerts.rule`), acknowledgements (on the alert's own
  `alerts.<source>`), its audit events, and the actions (`ctl.deploy.*.*`) an operator
  confirmed an alert's proposal of, with that operator's token;
- **streams** it reads, through the JetStream API subjects of those streams only
  (consumers, direct gets, acks), and the **buckets** it keeps, nobody else's: the
  signing keys, users and API keys are auth's alone; the collector reads only the last
  kept batch of each of its own retained sources (where to go on after a restart);
- the bytes of **shells** (`exec.<host>.<session>.{in,out}`): the gateway's and the
  deployer's of that host alone;
- **requests** it makes and answers (`ctl.*`, `ask.*`; a deployer only the actions
  for its own host or cluster, `ctl.deploy.{container,workload}.<host>`), replies going
  to an inbox of its own (`_INBOX.<role>`), so no service reads another's replies;
- nothing else. Creating or changing a stream is the provisioner's alone: a stream's
  config can source another stream, so whoever may create one may read them all.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vigil.messages import AlertSource
from vigil.operations import (
    Actions,
    Alerts,
    Auth,
    Deploy,
    History,
    Logs,
    Notify,
    Operation,
    Rules,
    Shells,
)
from vigil.streams import (
    ALERT_BOOK,
    ALERT_PROPOSALS,
    ALERT_RULES,
    ALERT_SILENCES,
    ALERTER_SOURCES,
    ALERTS,
    API_KEYS,
    AUDIT,
    BUCKETS,
    CONNECTIONS,
    DEPLOY_EVENTS,
    DEPLOY_LOCKS,
    DEPLOY_QUEUE,
    DEPLOYERS,
    DEPLOYS,
    HISTORY,
    HISTORY_CLAIMS,
    HISTORY_MARKS,
    HISTORY_RAW,
    K8S_CLUSTERS,
    LATEST,
    LOGIN_FAILURES,
    LOGS,
    LOGS_KEPT,
    NOTIFY_CHANNELS,
    NOTIFY_DEAD_LETTERS,
    NOTIFY_DELIVERIES,
    RATE_LIMITS,
    REVOKED,
    SESSIONS,
    SIGNING_KEYS,
    STREAMS,
    USERS,
    BucketSpec,
    StreamSpec,
)
from vigil.subjects import ANY, Subjects, Token

_API = "$JS.API"
_STREAM_LOOKUP = f"{_API}.STREAM.NAMES"  # which stream holds a subject: names only


class ServiceRole(StrEnum):
    ALERTER = "alerter"
    AUTH = "auth"
    COLLECTOR = "collector"
    DEPLOYER = "deployer"
    GATEWAY = "gateway"
    HISTORY = "history"
    NOTIFIER = "notifier"
    PROVISIONER = "provisioner"

    @property
    def inbox_prefix(self) -> str:
        """Where its replies come back: `_INBOX.<role>.*`, which only it may read."""
        return f"_INBOX.{self.value}"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool
    """It answers requests: it may publish to the reply subject of each it received."""


def _reads(subjects: Subjects, *specs: StreamSpec | BucketSpec) -> list[str]:
    """Reading a stream: its info, gets, consumers of it, acks and flow control."""
    allowed = []
    for spec in specs:
        name = spec.stream(subjects)
        allowed += [
            f"{_API}.STREAM.INFO.{name}",
            f"{_API}.STREAM.MSG.GET.{name}",
            f"{_API}.DIRECT.GET.{name}",
            f"{_API}.DIRECT.GET.{name}.>",
            f"{_API}.CONSUMER.CREATE.{name}",
            f"{_API}.CONSUMER.CREATE.{name}.>",
            f"{_API}.CONSUMER.DURABLE.CREATE.{name}.>",
            f"{_API}.CONSUMER.INFO.{name}.>",
            f"{_API}.CONSUMER.DELETE.{name}.>",
            f"{_API}.CONSUMER.MSG.NEXT.{name}.>",
            f"$JS.ACK.{name}.>",
            f"$JS.FC.{name}.>",
        ]
    return allowed


def _reads_last(subjects: Subjects, spec: StreamSpec, *of: str) -> list[str]:
    """Only the last message of `spec` on the subjects `of` (a direct get naming the
    subject): no consumer, no get by sequence, no other subject."""
    return [f"{_API}.DIRECT.GET.{spec.stream(subjects)}.{subject}" for subject in of]


def _looks_up(subjects: Subjects, *specs: StreamSpec | BucketSpec) -> list[str]:
    """Only a stream's info (that it is there, its config and counts), never its data."""
    return [f"{_API}.STREAM.INFO.{spec.stream(subjects)}" for spec in specs]


def _keeps(subjects: Subjects, *buckets: BucketSpec) -> list[str]:
    """Reading and writing a key-value bucket."""
    allowed = _reads(subjects, *buckets)
    for bucket in buckets:
        allowed.append(f"$KV.{subjects.stream_name(bucket.base_name)}.>")
    return allowed


def _requests(subjects: Subjects, operations: Iterable[Operation[Any, Any]]) -> list[str]:
    return [operation.subject(subjects) for operation in operations]


def permissions(
    role: ServiceRole,
    subjects: Subjects,
    *,
    host: Token = ANY,
    clusters: Iterable[str] | None = None,
) -> Permissions:
    """The permissions of `role` under `subjects`' prefix; a collector or deployer for
    `host` (ANY: every host), a collector for `clusters` (None: every cluster)."""
    inbox = f"{role.inbox_prefix}.>"
    match role:
        case ServiceRole.ALERTER:
            return Permissions(
                publish=(
                    # its rules' alerts, and acknowledgements of any source's on that source's
                    subjects.alerts(ANY),
                    subjects.audit(role.value),
                    Auth.JWKS.subject(subjects),
                    _STREAM_LOOKUP,
                    *_looks_up(subjects, AUDIT),
                    *_reads(subjects, ALERTS),  # the book's durable consumer
                    Logs.FOLLOW.subject(subjects),  # the logs its log rules read
                    *_reads(subjects, LATEST),  # a source's last status, when it is taken
                    *_keeps(
                        subjects,
                        ALERT_RULES,
                        ALERT_BOOK,
                        ALERT_PROPOSALS,
                        ALERT_SILENCES,
                        ALERTER_SOURCES,
                    ),
                    # proposals an operator confirmed, carried out for them (their token)
                    *_requests(subjects, _operations(Actions)),
                ),
                subscribe=(
                    subjects.all_metrics(),  # every sample and status, live: the rules' input
                    subjects.all_status(),
                    subjects.all_logs(),  # of the containers it follows for log rules
                    subjects.gateway_sampled(ANY),  # the gateway replicas' figures: gateway rules
                    *_requests(subjects, _operations(Rules)),
                    *_requests(subjects, _operations(Alerts)),
                    inbox,
                ),
                allow_responses=True,
            )
        case ServiceRole.AUTH:
            return Permissions(
                publish=(
                    subjects.auth_revoked(),
                    subjects.audit(role.value),
                    *_looks_up(subjects, REVOKED, AUDIT),
                    *_keeps(subjects, USERS, API_KEYS, SESSIONS, SIGNING_KEYS, LOGIN_FAILURES),
                ),
                subscribe=(
                    *_requests(subjects, _operations(Auth)),
                    inbox,
                ),
                allow_responses=True,
            )
        case ServiceRole.COLLECTOR:
            cluster_tokens: list[Token] = list(clusters) if clusters is not None else [ANY]
            return Permissions(
                publish=(
                    subjects.host_metrics(host),
                    subjects.docker_metrics(host),
                    subjects.docker_source(host),
                    subjects.docker_status(host, ANY),
                    subjects.docker_logs(host, ANY),
                    subjects.kept_docker_logs(host, ANY),  # its retained containers'
                    subjects.journal_logs(host, ANY),
                    subjects.file_logs(host, ANY),
                    subjects.alerts(AlertSource.K8S),
                    *(subjects.k8s_metrics(cluster) for cluster in cluster_tokens),
                    *(subjects.k8s_status(cluster, ANY, ANY) for cluster in cluster_tokens),
                    *(subjects.k8s_logs(cluster, ANY, ANY) for cluster in cluster_tokens),
                    *(subjects.kept_k8s_logs(c, ANY, ANY) for c in cluster_tokens),  # retained
                    Auth.JWKS.subject(subjects),
                    _STREAM_LOOKUP,
                    *_looks_up(subjects, LATEST, ALERTS, LOGS, LOGS_KEPT),
                    # where its retained sources' kept lines end, to go on after them
                    *_reads_last(
                        subjects,
                        LOGS_KEPT,
                        subjects.kept_docker_logs(host, ANY),
                        *(subjects.kept_k8s_logs(c, ANY, ANY) for c in cluster_tokens),
                    ),
                    *_keeps(subjects, K8S_CLUSTERS),
                ),
                subscribe=(*_requests(subjects, _operations(Logs)), inbox),
                allow_responses=True,
            )
        case ServiceRole.DEPLOYER:
            return Permissions(
                publish=(
                    subjects.deploy_events(ANY),
                    subjects.deploy_queue(ANY),  # any replica queues a deploy for its host
                    subjects.ask_user(ANY),
                    subjects.shell_output(host, ANY),  # its own host's shells only
                    subjects.audit(role.value),
                    Auth.JWKS.subject(subjects),
                    _STREAM_LOOKUP,
                    *_looks_up(subjects, DEPLOY_EVENTS, AUDIT),
                    *_reads(subjects, DEPLOY_QUEUE),
                    *_keeps(subjects, DEPLOYS, DEPLOY_LOCKS, DEPLOYERS),
                ),
                subscribe=(
                    *_requests(subjects, _operations(Deploy)),
                    # actions on its own host's containers (or its cluster's workloads)
                    *(action.subject(subjects, host) for action in _operations(Actions)),
                    *(shell.subject(subjects, host) for shell in _operations(Shells)),
                    subjects.shell_input(host, ANY),
                    inbox,
                ),
                allow_responses=True,
            )
        case ServiceRole.HISTORY:
            return Permissions(
                publish=(
                    subjects.all_history(),
                    *_reads(subjects, HISTORY_RAW, HISTORY, LOGS, LOGS_KEPT),
                    *_keeps(subjects, HISTORY_CLAIMS, HISTORY_MARKS),
                ),
                subscribe=(*_requests(subjects, _operations(History)), inbox),
                allow_responses=True,
            )
        case ServiceRole.GATEWAY:
            return Permissions(
                publish=(
                    *_requests(subjects, (*_operations(Auth), *_operations(Deploy))),
                    *_requests(subjects, _operations(Actions)),  # any host's: ctl.deploy.*.*
                    *_requests(subjects, _operations(Shells)),
                    subjects.shell_input(ANY, ANY),
                    *_requests(subjects, _operations(History)),
                    *_requests(subjects, _operations(Logs)),
                    *_requests(subjects, _operations(Notify)),
                    *_requests(subjects, _operations(Rules)),
                    *_requests(subjects, _operations(Alerts)),
                    subjects.ctl("gateway", "connections"),
                    subjects.gateway_connections(),
                    subjects.gateway_sessions(),
                    subjects.gateway_sampled(ANY),  # each replica's figures, for the alerter
                    subjects.audit(role.value),
                    _STREAM_LOOKUP,
                    *_reads(subjects, LATEST, ALERTS, LOGS, DEPLOY_EVENTS, REVOKED, CONNECTIONS),
                    *_reads(subjects, AUDIT),  # for admins: /api/audit and the `audit` channel
                    *_keeps(subjects, RATE_LIMITS),
                ),
                subscribe=(
                    subjects.ask(ANY),
                    subjects.ask_user(ANY),
                    subjects.ctl("gateway", "connections"),
                    subjects.gateway_sessions(),
                    subjects.shell_output(ANY, ANY),
                    inbox,
                ),
                allow_responses=True,
            )
        case ServiceRole.NOTIFIER:
            return Permissions(
                publish=(
                    subjects.audit(role.value),
                    Auth.JWKS.subject(subjects),
                    _STREAM_LOOKUP,
                    *_looks_up(subjects, AUDIT),
                    *_reads(subjects, ALERTS),  # its durable consumer: acks, naks with delay
                    *_reads(subjects, ALERT_SILENCES),  # what not to deliver, for now
                    *_keeps(subjects, NOTIFY_CHANNELS, NOTIFY_DELIVERIES, NOTIFY_DEAD_LETTERS),
                ),
                subscribe=(*_requests(subjects, _operations(Notify)), inbox),
                allow_responses=True,
            )
        case ServiceRole.PROVISIONER:
            admin = []
            specs: tuple[StreamSpec | BucketSpec, ...] = (*STREAMS, *BUCKETS)
            for spec in specs:
                name = spec.stream(subjects)
                admin += [f"{_API}.STREAM.{verb}.{name}" for verb in ("CREATE", "UPDATE", "INFO")]
            return Permissions(
                publish=(_STREAM_LOOKUP, f"{_API}.INFO", *admin),
                subscribe=(inbox,),
                allow_responses=False,
            )


def _operations(group: type) -> list[Operation[Any, Any]]:
    return [value for value in vars(group).values() if isinstance(value, Operation)]
