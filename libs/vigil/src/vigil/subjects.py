"""Every NATS subject Vigil uses, built from one prefix.

No service formats a subject itself: it asks `Subjects`. Names from outside are
validated on the way in (`vigil.names`), so a subject never gets a wildcard or an
extra token by accident; wildcards exist only where a caller passes `ANY` on purpose,
to subscribe.
"""

import re
from dataclasses import dataclass
from typing import Final, TypeAlias, final

from vigil.names import NameKind, validate_name


@final
class _Any:
    """Marks a wildcard token; only subscribers use it."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()

Token: TypeAlias = str | _Any

_PREFIX = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*", re.ASCII)


def _token(kind: NameKind, value: Token) -> str:
    return "*" if isinstance(value, _Any) else validate_name(kind, value)


_SESSION = re.compile(r"[0-9a-f]{32}", re.ASCII)


def _session(value: Token) -> str:
    """A shell session's id (`vigil.messages.shell.SESSION_PATTERN`), or `*`."""
    if isinstance(value, _Any):
        return "*"
    if not _SESSION.fullmatch(value):
        raise ValueError(f"shell session {value[:40]!r}: 32 lower-case hex digits expected")
    return value


@dataclass(frozen=True)
class Subjects:
    """Subject builders for one deployment; tests use a fresh prefix each."""

    prefix: str = "vigil"

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                f"subject prefix {self.prefix!r} must be dot-separated tokens of "
                "letters, digits, '-' and '_'"
            )

    def _join(self, *tokens: str) -> str:
        return ".".join((self.prefix, *tokens))

    # -- collector: metrics and status (kept last per subject) --------------------

    def host_metrics(self, host: Token) -> str:
        return self._join("metrics", "host", _token(NameKind.HOST, host))

    def docker_metrics(self, host: Token) -> str:
        return self._join("metrics", "docker", _token(NameKind.HOST, host))

    def docker_status(self, host: Token, container: Token) -> str:
        return self._join(
            "status",
            "docker",
            _token(NameKind.HOST, host),
            _token(NameKind.CONTAINER, container),
        )

    def docker_source(self, host: Token) -> str:
        """Whether the host's Docker engine answers the collector."""
        return self._join("status", "docker", _token(NameKind.HOST, host))

    def k8s_metrics(self, cluster: Token) -> str:
        return self._join("metrics", "k8s", _token(NameKind.CLUSTER, cluster))

    def k8s_status(self, cluster: Token, namespace: Token, pod: Token) -> str:
        return self._join(
            "status",
            "k8s",
            _token(NameKind.CLUSTER, cluster),
            _token(NameKind.NAMESPACE, namespace),
            _token(NameKind.POD, pod),
        )

    def all_metrics(self) -> str:
        return self._join("metrics", ">")

    def all_status(self) -> str:
        return self._join("status", ">")

    # -- collector: logs (a short window, for resume) -----------------------------

    def docker_logs(self, host: Token, container: Token) -> str:
        return self._join(
            "logs", "docker", _token(NameKind.HOST, host), _token(NameKind.CONTAINER, container)
        )

    def k8s_logs(self, cluster: Token, namespace: Token, pod: Token) -> str:
        return self._join(
            "logs",
            "k8s",
            _token(NameKind.CLUSTER, cluster),
            _token(NameKind.NAMESPACE, namespace),
            _token(NameKind.POD, pod),
        )

    def file_logs(self, host: Token, file: Token) -> str:
        """An allow-listed log file of a host, by its short name (`syslog`)."""
        return self._join(
            "logs", "file", _token(NameKind.HOST, host), _token(NameKind.LOG_FILE, file)
        )

    def journal_logs(self, host: Token, selection: Token) -> str:
        """A selection of a host's journal (`JournalSelection.token`)."""
        return self._join(
            "logs", "journal", _token(NameKind.HOST, host), _token(NameKind.SOURCE, selection)
        )

    def all_logs(self) -> str:
        return self._join("logs", ">")

    # -- collector: kept logs (retained sources, by name: every generation) -------

    def kept_docker_logs(self, host: Token, name: Token) -> str:
        """A retained container's lines, by its name: its generations read as one."""
        return self._join(
            "keptlogs", "docker", _token(NameKind.HOST, host), _token(NameKind.CONTAINER, name)
        )

    def kept_k8s_logs(self, cluster: Token, namespace: Token, workload: Token) -> str:
        """A retained pod's lines, by its workload (or, for a StatefulSet's or a bare
        pod, its name): the pods that replace each other read as one."""
        return self._join(
            "keptlogs",
            "k8s",
            _token(NameKind.CLUSTER, cluster),
            _token(NameKind.NAMESPACE, namespace),
            _token(NameKind.POD, workload),
        )

    def all_kept_logs(self) -> str:
        return self._join("keptlogs", ">")

    # -- collector: threshold alerts ---------------------------------------------

    def alerts(self, source: Token) -> str:
        return self._join("alerts", _token(NameKind.SOURCE, source))

    # -- deployer: the journal of each deploy ------------------------------------

    def deploy_events(self, deploy_id: Token) -> str:
        return self._join("deploy", _token(NameKind.DEPLOY_ID, deploy_id), "events")

    def deploy_queue(self, host: Token) -> str:
        """Deploys waiting for a deployer replica of `host` (a work queue: one takes each)."""
        return self._join("work", "deploy", _token(NameKind.HOST, host))

    # -- history: metrics roll-ups ------------------------------------------------

    def history(self, tier: Token, kind: Token, source: Token) -> str:
        """The roll-ups of one tier (`s60`: 60 s steps) of one source's `kind` of series
        (host, docker, pods, nodes), `source` a host or a cluster."""
        return self._join(
            "history",
            _token(NameKind.SOURCE, tier),
            _token(NameKind.SOURCE, kind),
            _token(NameKind.HOST, source),
        )

    def all_history(self) -> str:
        return self._join("history", ">")

    def raw_metrics_copy(self, metrics_subject: str) -> str:
        """Where JetStream copies a sample of `metrics_subject` (`metrics.docker.h1` ->
        `raw.metrics.docker.h1`): the history's raw tier keeps these."""
        own = self._join("")
        if not metrics_subject.startswith(own + "metrics."):
            raise ValueError(f"{metrics_subject!r} is not a metrics subject of {self.prefix!r}")
        return self._join("raw", metrics_subject.removeprefix(own))

    def raw_metrics_copies(self) -> str:
        return self._join("raw", "metrics", ">")

    # -- control and auth ---------------------------------------------------------

    def ctl(self, *operation: str) -> str:
        """Request/reply subjects (`ctl.logs.follow`, `ctl.deploy.create`, ...)."""
        return self._join("ctl", *(validate_name(NameKind.SOURCE, op) for op in operation))

    def ctl_routed(self, service: str, name: str, host: Token) -> str:
        """A request for the replicas of one host (or cluster) only:
        `ctl.deploy.container.{host}`; they subscribe to their own, callers to ANY."""
        return self._join(
            "ctl",
            validate_name(NameKind.SOURCE, service),
            validate_name(NameKind.SOURCE, name),
            _token(NameKind.HOST, host),
        )

    def auth_revoked(self) -> str:
        return self._join("auth", "revoked")

    def gateway_connections(self) -> str:
        """Gateways announce each socket opened and closed (the `connections` channel)."""
        return self._join("gateway", "connections")

    def gateway_sessions(self) -> str:
        """Gateways tell each other of new sessions (single session per user)."""
        return self._join("gateway", "sessions")

    def gateway_sampled(self, replica: Token) -> str:
        """A gateway replica's sample of itself (`GatewaySampled`), for the alerter."""
        return self._join("gateway", "sampled", _token(NameKind.HOST, replica))

    def ask(self, connection: Token) -> str:
        """A question from a service for one client connection, answered through its gateway."""
        return self._join("ask", _token(NameKind.CONNECTION, connection))

    def ask_user(self, principal: Token) -> str:
        """A question for a user (or key): their newest socket is asked.

        `principal` is `Principal.token`, a subject-safe digest of the principal.
        """
        return self._join("ask", "user", _token(NameKind.CONNECTION, principal))

    # -- interactive shells (exec) ---------------------------------------------------

    def shell_input(self, host: Token, session: Token) -> str:
        """A shell session's input and its control messages, gateway to the deployer of
        `host` (which may read only its own host's)."""
        return self._join("exec", _token(NameKind.HOST, host), _session(session), "in")

    def shell_output(self, host: Token, session: Token) -> str:
        """A shell session's output and its control messages, deployer to gateway."""
        return self._join("exec", _token(NameKind.HOST, host), _session(session), "out")

    # -- the audit trail -----------------------------------------------------------

    def audit(self, service: Token) -> str:
        """Who did what, as `service` saw it (each service may publish only its own)."""
        return self._join("audit", _token(NameKind.SOURCE, service))

    # -- JetStream names ----------------------------------------------------------

    def stream_name(self, base: str) -> str:
        """A stream or bucket name unique to this prefix (names cannot contain '.')."""
        return f"{self.prefix.replace('.', '_')}_{base}".upper()
