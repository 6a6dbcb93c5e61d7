"""Who may do what: roles, permissions, cluster grants and the principal behind a
connection.

Roles are ordered, `viewer` < `operator` < `admin`: viewers read, operators also
deploy and act on containers and workloads, admins also manage users and keys and see
connections. A permission is a power no role gives an operator by itself: `exec`
(shells in containers and pods) is for admins, and for the operators an admin granted
it. A cluster grant is a list of cluster (or Docker host) names, or `["*"]` for all of
them; it limits which clusters and hosts a principal may see and act on.
"""

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from vigil.errors import InvalidName
from vigil.model import Message
from vigil.names import NameKind, validate_name

ALL_CLUSTERS = "*"
API_KEY_PREFIX = "vk_"
"""How every API key begins (`vk_<id>_<secret>`); no access token (a JWT) does."""

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}", re.ASCII)


def validate_username(value: str) -> str:
    """Usernames may be e-mail addresses; they never go into a subject."""
    if not _USERNAME.fullmatch(value):
        raise InvalidName(
            "username", value[:80], "1-128 of letters, digits and '_', '.', '@', '+', '-'"
        )
    return value


def validate_grant(value: str) -> str:
    return value if value == ALL_CLUSTERS else validate_name(NameKind.CLUSTER, value)


Username = Annotated[str, AfterValidator(validate_username)]
ClusterGrant = Annotated[str, AfterValidator(validate_grant)]


def principal_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class Permission(StrEnum):
    EXEC = "exec"
    """Open shells in containers and pods (with the operator role; admins always may)."""


PERMISSION_ROLES = {Permission.EXEC: Role.OPERATOR}
"""The least role each permission works with: granting it to less is refused."""


class Principal(Message):
    """An authenticated user or API key, as every gateway sees it."""

    kind: Literal["user", "api_key"]
    id: str
    name: str
    roles: list[Role]
    clusters: list[ClusterGrant]
    permissions: list[Permission] = Field(default_factory=list)
    session_id: str | None = None
    expires_at: datetime | None = None

    @property
    def key(self) -> str:
        """One string per user or key, the same on every gateway (sessions, rate limits)."""
        return f"{self.kind}:{self.id}"

    @property
    def token(self) -> str:
        """`key` as one subject token (ids of external issuers hold ':' and '/')."""
        return principal_token(self.key)

    @property
    def role(self) -> Role:
        """The highest role held (a principal with none is a viewer)."""
        return max(self.roles, key=lambda role: role.rank, default=Role.VIEWER)

    def has_role(self, needed: Role) -> bool:
        return self.role.rank >= needed.rank

    def may_exec(self) -> bool:
        """Whether it may open shells (`exec`), in the hosts and clusters it is granted:
        an admin, or an operator granted the `exec` permission."""
        if self.has_role(Role.ADMIN):
            return True
        return self.has_role(Role.OPERATOR) and Permission.EXEC in self.permissions

    def exec_refusal(self) -> str:
        """Why `may_exec` said no."""
        if not self.has_role(Role.OPERATOR):
            return (
                f"exec needs the operator role and the exec permission; {self.name} is {self.role}"
            )
        return f"exec needs the exec permission, which {self.name} was not granted"

    def may_see_cluster(self, cluster: str) -> bool:
        return ALL_CLUSTERS in self.clusters or cluster in self.clusters
