"""The request/reply operations on `ctl.*`: which request each carries, which reply,
and whom it acts for.

One table, read by the service that answers and by every caller, so the two sides
cannot disagree. `vigil.ctl` sends and serves them. An operation with a `role` acts for
an end user: its request carries that user's token, and the answering service verifies
it and checks the role (and, in the handler, the user's grants) itself. One without is
the caller's own business, allowed by its place on the bus (its NATS permissions).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from vigil.access import Role
from vigil.messages import (
    AcknowledgeAlert,
    ActOnContainer,
    ActOnWorkload,
    AlertChanged,
    AlertList,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyView,
    CancelDeploy,
    ChannelList,
    ChannelTried,
    ChannelView,
    ConfirmProposal,
    ContainerActed,
    CreateApiKey,
    CreateChannel,
    CreateDeploy,
    CreateRule,
    CreateSilence,
    CreateUser,
    DeadLetterList,
    DelegatedToken,
    DeleteChannel,
    DeleteRule,
    DeleteSilence,
    DeployHosts,
    DeployList,
    DeployRecord,
    DeployRolledBack,
    DisableUser,
    Done,
    EndSession,
    ExchangeToken,
    FileFollowed,
    FollowFile,
    FollowJournal,
    FollowLogs,
    FollowPodLogs,
    GetDeploy,
    GetSigningKeys,
    HistorySeries,
    JournalFollowed,
    JwkSet,
    LinesAround,
    ListAlerts,
    ListApiKeys,
    ListChannels,
    ListDeadLetters,
    ListDeployHosts,
    ListDeploys,
    ListRules,
    ListSilences,
    ListUsers,
    LogAround,
    LogHits,
    Login,
    LogPage,
    LogsFollowed,
    OpenPodShell,
    OpenShell,
    PodLogsFollowed,
    ProposalConfirmed,
    QueryHistory,
    ReadLogs,
    ReadPodLogs,
    RefreshSession,
    RevokeApiKey,
    RollBackDeploy,
    Rule,
    RuleList,
    SearchLogs,
    ShellOpened,
    Silence,
    SilenceList,
    TokensIssued,
    TryChannel,
    UpdateUser,
    UserList,
    UserView,
    VerifyApiKey,
    WorkloadActed,
)
from vigil.model import Message
from vigil.subjects import ANY, Subjects, Token

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)


@dataclass(frozen=True)
class Operation(Generic[Req, Rep]):
    service: str
    name: str
    request: type[Req]
    reply: type[Rep]
    role: Role | None = None
    """The least role of the user it acts for; None: it acts for no user."""
    timeout_s: float = 5.0
    """How long a caller waits for the reply. The service refuses at once, before doing
    anything, work it could not finish well within it (auth: a password hash), so no
    caller gives up on work that is then done."""

    route: Callable[[Req], str] | None = None
    """The host (or cluster) a request is for, when only the replicas serving it
    answer: its subject ends with that token (`Subjects.ctl_routed`)."""

    def subject(self, subjects: Subjects, host: Token = ANY) -> str:
        """Its subject; a routed operation's for `host` (ANY: for subscribing to all)."""
        if self.route is None:
            return subjects.ctl(self.service, self.name)
        return subjects.ctl_routed(self.service, self.name, host)

    def subject_of(self, subjects: Subjects, request: Req) -> str:
        """Where `request` goes: a routed one to the replicas of its host."""
        if self.route is None:
            return subjects.ctl(self.service, self.name)
        return subjects.ctl_routed(self.service, self.name, self.route(request))

    @property
    def queue(self) -> str:
        """The queue group of the answering service: one replica answers each request."""
        return f"vigil-{self.service}"


# A password hash takes up to a few seconds under load, and waits its turn behind others.
_HASHING_S = 8.0


class Auth:
    """Operations answered by the auth service."""

    LOGIN = Operation("auth", "login", Login, TokensIssued, timeout_s=_HASHING_S)
    REFRESH = Operation("auth", "refresh", RefreshSession, TokensIssued)
    LOGOUT = Operation("auth", "logout", EndSession, Done, Role.VIEWER)
    JWKS = Operation("auth", "jwks", GetSigningKeys, JwkSet)
    VERIFY_API_KEY = Operation("auth", "apikey_verify", VerifyApiKey, DelegatedToken)
    EXCHANGE = Operation("auth", "token_exchange", ExchangeToken, DelegatedToken)
    CREATE_USER = Operation(
        "auth", "user_create", CreateUser, UserView, Role.ADMIN, timeout_s=_HASHING_S
    )
    LIST_USERS = Operation("auth", "user_list", ListUsers, UserList, Role.ADMIN)
    DISABLE_USER = Operation("auth", "user_disable", DisableUser, UserView, Role.ADMIN)
    UPDATE_USER = Operation("auth", "user_update", UpdateUser, UserView, Role.ADMIN)
    CREATE_API_KEY = Operation("auth", "apikey_create", CreateApiKey, ApiKeyCreated, Role.ADMIN)
    LIST_API_KEYS = Operation("auth", "apikey_list", ListApiKeys, ApiKeyList, Role.ADMIN)
    REVOKE_API_KEY = Operation("auth", "apikey_revoke", RevokeApiKey, ApiKeyView, Role.ADMIN)


# A scroll-back page: the engine or the API server reads up to a thousand lines.
_PAGE_S = 15.0


class Logs:
    """Operations answered by the collector of the host (or holding the cluster's lease)
    named in the request."""

    FOLLOW = Operation("logs", "follow", FollowLogs, LogsFollowed)  # a gateway's lease
    PAGE = Operation("logs", "page", ReadLogs, LogPage, Role.VIEWER, timeout_s=_PAGE_S)
    K8S_FOLLOW = Operation("logs", "k8s_follow", FollowPodLogs, PodLogsFollowed)
    K8S_PAGE = Operation("logs", "k8s_page", ReadPodLogs, LogPage, Role.VIEWER, timeout_s=_PAGE_S)
    JOURNAL_FOLLOW = Operation("logs", "journal_follow", FollowJournal, JournalFollowed)
    FILE_FOLLOW = Operation("logs", "file_follow", FollowFile, FileFollowed)


class Deploy:
    """Operations answered by the deployer."""

    CREATE = Operation("deploy", "create", CreateDeploy, DeployRecord, Role.OPERATOR)
    CANCEL = Operation("deploy", "cancel", CancelDeploy, DeployRecord, Role.OPERATOR)
    GET = Operation("deploy", "get", GetDeploy, DeployRecord, Role.VIEWER)
    LIST = Operation("deploy", "list", ListDeploys, DeployList, Role.VIEWER)
    HOSTS = Operation("deploy", "hosts", ListDeployHosts, DeployHosts, Role.VIEWER)


# Asking first (a destructive action) waits for the user's answer, up to the deployer's
# `confirm_timeout_s` (30 s by default); then the engine stops a container, up to 300 s.
_ACT_S = 60.0


def _host_of(request: ActOnContainer | RollBackDeploy) -> str:
    return request.host


def _cluster_of(request: ActOnWorkload) -> str:
    return request.cluster


class Actions:
    """Operations answered by the deployer replicas of the host (or cluster) named in
    the request only: its subject ends with that name (`Operation.route`)."""

    CONTAINER = Operation(
        "deploy",
        "container",
        ActOnContainer,
        ContainerActed,
        Role.OPERATOR,
        timeout_s=_ACT_S,
        route=_host_of,
    )
    WORKLOAD = Operation(
        "deploy",
        "workload",
        ActOnWorkload,
        WorkloadActed,
        Role.OPERATOR,
        timeout_s=_ACT_S,
        route=_cluster_of,
    )
    ROLLBACK = Operation(
        "deploy",
        "rollback",
        RollBackDeploy,
        DeployRolledBack,
        Role.OPERATOR,
        timeout_s=_ACT_S,
        route=_host_of,
    )


# Opening a shell: find the container, create the exec, start it (no question asked).
_OPEN_SHELL_S = 15.0


def _shell_host(request: OpenShell) -> str:
    return request.host


def _shell_cluster(request: OpenPodShell) -> str:
    return request.cluster


class Shells:
    """Interactive shells (`exec`) in the containers of a host (or the pods of a
    cluster), opened by the gateway with the deployer replica serving that host (or
    cluster), for a user who may exec there (`Principal.may_exec`); the bytes then
    travel on the session's own subjects (`Subjects.shell_input`, `shell_output`). Apart
    from `Actions`: a service that may act on containers (the alerter) may not open one."""

    OPEN = Operation(
        "deploy",
        "exec",
        OpenShell,
        ShellOpened,
        Role.OPERATOR,
        timeout_s=_OPEN_SHELL_S,
        route=_shell_host,
    )
    OPEN_POD = Operation(
        "deploy",
        "pod_exec",
        OpenPodShell,
        ShellOpened,
        Role.OPERATOR,
        timeout_s=_OPEN_SHELL_S,
        route=_shell_cluster,
    )


# A test notification waits for the channel's service (an SMTP server, a webhook) to answer.
_TRY_S = 20.0


class Notify:
    """Operations answered by the notifier: its channels and dead letters, admins only
    (channels hold secrets: webhook URLs, tokens, passwords)."""

    CREATE = Operation("notify", "channel_create", CreateChannel, ChannelView, Role.ADMIN)
    LIST = Operation("notify", "channel_list", ListChannels, ChannelList, Role.ADMIN)
    DELETE = Operation("notify", "channel_delete", DeleteChannel, ChannelView, Role.ADMIN)
    TRY = Operation("notify", "channel_try", TryChannel, ChannelTried, Role.ADMIN, timeout_s=_TRY_S)
    DEAD_LETTERS = Operation("notify", "dead_letters", ListDeadLetters, DeadLetterList, Role.ADMIN)


class History:
    """Operations answered by the history service. Asked by the gateway only, which
    checks the user's role and cluster grant (a pod's or node's query names its cluster;
    a search's sources are only within the user's grants)."""

    QUERY = Operation("history", "query", QueryHistory, HistorySeries, timeout_s=10.0)
    SEARCH_LOGS = Operation("history", "search_logs", SearchLogs, LogHits, timeout_s=10.0)
    LINES_AROUND = Operation("history", "log_lines_around", LinesAround, LogAround, timeout_s=10.0)


class Rules:
    """Operations answered by the alerter: alert rules, read by viewers, written by
    operators."""

    CREATE = Operation("rules", "create", CreateRule, Rule, Role.OPERATOR)
    LIST = Operation("rules", "list", ListRules, RuleList, Role.VIEWER)
    DELETE = Operation("rules", "delete", DeleteRule, Rule, Role.OPERATOR)


# Confirming a proposal waits for the deployer's action (`Actions`), which asks first.
_PROPOSAL_S = _ACT_S + 10.0


class Alerts:
    """Operations answered by the alerter on alerts of every source: their book, read by
    viewers; acknowledgements, silences and confirmations of proposed actions, made by
    operators."""

    LIST = Operation("alerts", "list", ListAlerts, AlertList, Role.VIEWER)
    ACK = Operation("alerts", "ack", AcknowledgeAlert, AlertChanged, Role.OPERATOR)
    SILENCE = Operation("alerts", "silence_create", CreateSilence, Silence, Role.OPERATOR)
    SILENCES = Operation("alerts", "silence_list", ListSilences, SilenceList, Role.VIEWER)
    UNSILENCE = Operation("alerts", "silence_delete", DeleteSilence, Silence, Role.OPERATOR)
    CONFIRM = Operation(
        "alerts",
        "proposal_confirm",
        ConfirmProposal,
        ProposalConfirmed,
        Role.OPERATOR,
        timeout_s=_PROPOSAL_S,
    )
