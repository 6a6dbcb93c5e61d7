"""The request/reply operations on `ctl.*`: which request each carries, which reply.

One table, read by the service that answers and by every caller, so the two sides
cannot disagree. `vigil.ctl` sends and serves them.
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from vigil.access import Principal
from vigil.messages import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyView,
    CancelDeploy,
    CreateApiKey,
    CreateDeploy,
    CreateUser,
    DeployHosts,
    DeployList,
    DeployRecord,
    DisableUser,
    Done,
    EndSession,
    FollowLogs,
    GetDeploy,
    GetSigningKeys,
    JwkSet,
    ListApiKeys,
    ListDeployHosts,
    ListDeploys,
    ListUsers,
    Login,
    LogPage,
    LogsFollowed,
    ReadLogs,
    RefreshSession,
    RevokeApiKey,
    TokensIssued,
    UserList,
    UserView,
    VerifyApiKey,
)
from vigil.model import Message
from vigil.subjects import Subjects

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)


@dataclass(frozen=True)
class Operation(Generic[Req, Rep]):
    service: str
    name: str
    request: type[Req]
    reply: type[Rep]

    def subject(self, subjects: Subjects) -> str:
        return subjects.ctl(self.service, self.name)

    @property
    def queue(self) -> str:
        """The queue group of the answering service: one replica answers each request."""
        return f"vigil-{self.service}"


class Auth:
    """Operations answered by the auth service."""

    LOGIN = Operation("auth", "login", Login, TokensIssued)
    REFRESH = Operation("auth", "refresh", RefreshSession, TokensIssued)
    LOGOUT = Operation("auth", "logout", EndSession, Done)
    JWKS = Operation("auth", "jwks", GetSigningKeys, JwkSet)
    VERIFY_API_KEY = Operation("auth", "apikey_verify", VerifyApiKey, Principal)
    CREATE_USER = Operation("auth", "user_create", CreateUser, UserView)
    LIST_USERS = Operation("auth", "user_list", ListUsers, UserList)
    DISABLE_USER = Operation("auth", "user_disable", DisableUser, UserView)
    CREATE_API_KEY = Operation("auth", "apikey_create", CreateApiKey, ApiKeyCreated)
    LIST_API_KEYS = Operation("auth", "apikey_list", ListApiKeys, ApiKeyList)
    REVOKE_API_KEY = Operation("auth", "apikey_revoke", RevokeApiKey, ApiKeyView)


class Logs:
    """Operations answered by the collector of the host named in the request."""

    FOLLOW = Operation("logs", "follow", FollowLogs, LogsFollowed)
    PAGE = Operation("logs", "page", ReadLogs, LogPage)


class Deploy:
    """Operations answered by the deployer."""

    CREATE = Operation("deploy", "create", CreateDeploy, DeployRecord)
    CANCEL = Operation("deploy", "cancel", CancelDeploy, DeployRecord)
    GET = Operation("deploy", "get", GetDeploy, DeployRecord)
    LIST = Operation("deploy", "list", ListDeploys, DeployList)
    HOSTS = Operation("deploy", "hosts", ListDeployHosts, DeployHosts)
