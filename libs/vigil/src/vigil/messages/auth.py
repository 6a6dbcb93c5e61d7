"""The auth service's requests and replies on `ctl.auth.*`, and revocations."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from vigil.access import PERMISSION_ROLES, ClusterGrant, Permission, Principal, Role, Username
from vigil.model import Message

# -- auth: requests on ctl.auth.* and their replies (see vigil.operations) -----------


class Login(Message):
    username: str = Field(max_length=128)
    password: str = Field(max_length=1024, repr=False)
    client: str = Field(default="", max_length=64, description="Client address, for slowdown.")


class TokensIssued(Message):
    access_token: str = Field(repr=False)
    refresh_token: str = Field(repr=False)
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshSession(Message):
    refresh_token: str = Field(max_length=512, repr=False)
    client: str = Field(default="", max_length=64)


class EndSession(Message):
    """End the session of the token the request carries (every socket of it closes)."""


class GetSigningKeys(Message):
    """Ask for the public JWKS that gateways verify access tokens with."""


class JwkSet(Message):
    keys: list[dict[str, Any]]


class AccessClaims(Message):
    """The payload of Vigil's access JWTs: the auth service signs, gateways verify."""

    iss: str
    aud: str
    kind: Literal["user", "api_key"] = Field(
        default="user", description="Whom it names: a user, or an API key (minted for a gateway)."
    )
    sub: str = Field(description="The user id, or the API key id.")
    name: str = Field(description="The username, or the API key's name.")
    roles: list[Role]
    clusters: list[str]
    permissions: list[Permission] = Field(
        default_factory=list, description="Powers beyond the roles' (`exec`)."
    )
    sid: str | None = Field(
        default=None, description="The session (refresh-token family) id of a user's token."
    )
    jti: str
    iat: int
    nbf: int
    exp: int


class VerifyApiKey(Message):
    api_key: str = Field(max_length=512, repr=False)


class ExchangeToken(Message):
    """An external issuer's access token, for one of Vigil's own (see `DelegatedToken`)."""

    token: str = Field(max_length=16_384, repr=False)


class DelegatedToken(Message):
    """Who an API key or an external token proves, and a short-lived token of Vigil's own
    that says so: the gateway sends it with the ctl requests it makes for them, since the
    services verify only Vigil's tokens."""

    principal: Principal
    token: str = Field(repr=False)
    expires_at: datetime


class UserDraft(Message):
    """A new user, as an admin sends it (`POST /api/auth/users`)."""

    username: Username
    password: str = Field(min_length=8, max_length=1024, repr=False)
    roles: list[Role] = Field(min_length=1)
    clusters: list[ClusterGrant] = Field(default_factory=list)
    permissions: list[Permission] = Field(
        default_factory=list, description="`exec`: may open shells (an operator's or admin's)."
    )

    @model_validator(mode="after")
    def _permissions_fit_the_roles(self) -> "UserDraft":
        check_permissions(self.permissions, max(self.roles, key=lambda role: role.rank))
        return self


class CreateUser(UserDraft):
    """On `ctl.auth.*`: the draft; the admin is the request's token."""


class UserAccess(Message):
    """A user's access changed, as an admin sends it (`PATCH /api/auth/users/{username}`):
    what is given replaces what the user had (`clusters: []` takes every cluster away);
    what is left out stays."""

    roles: list[Role] | None = Field(default=None, min_length=1)
    clusters: list[ClusterGrant] | None = None
    permissions: list[Permission] | None = None

    @model_validator(mode="after")
    def _something(self) -> "UserAccess":
        if self.roles is None and self.clusters is None and self.permissions is None:
            raise ValueError("give roles, clusters or permissions: what changes")
        return self


class UpdateUser(UserAccess):
    """On `ctl.auth.*`: the change, and whose; the admin is the request's token."""

    username: Username


class ListUsers(Message):
    pass


class DisableUser(Message):
    username: Username


class UserView(Message):
    id: str
    username: str
    roles: list[Role]
    clusters: list[str]
    permissions: list[Permission] = Field(default_factory=list)
    disabled: bool
    created_at: datetime


class UserList(Message):
    users: list[UserView]


class ApiKeyDraft(Message):
    """A new API key, as an admin sends it (`POST /api/auth/keys`)."""

    name: str = Field(min_length=1, max_length=128)
    role: Role
    clusters: list[ClusterGrant] = Field(default_factory=list)
    permissions: list[Permission] = Field(
        default_factory=list, description="`exec`: may open shells (an operator's or admin's)."
    )
    expires_at: datetime | None = None

    @model_validator(mode="after")
    def _permissions_fit_the_role(self) -> "ApiKeyDraft":
        check_permissions(self.permissions, self.role)
        return self


def check_permissions(permissions: list[Permission], role: Role) -> None:
    """Raise `ValueError` unless `role` may hold every one of `permissions`."""
    for permission in permissions:
        if role.rank < (least := PERMISSION_ROLES[permission]).rank:
            raise ValueError(f"permissions: {permission} needs the {least} role, not {role}")


class CreateApiKey(ApiKeyDraft):
    """On `ctl.auth.*`: the draft; the admin is the request's token."""


class ListApiKeys(Message):
    pass


class RevokeApiKey(Message):
    key_id: str = Field(max_length=64)


class ApiKeyView(Message):
    id: str
    name: str
    role: Role
    clusters: list[str]
    permissions: list[Permission] = Field(default_factory=list)
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class ApiKeyCreated(Message):
    key: ApiKeyView
    api_key: str = Field(repr=False, description="The secret itself: shown this once only.")


class ApiKeyList(Message):
    keys: list[ApiKeyView]


class Done(Message):
    """A command was carried out and has nothing to say."""


class RevocationKind(StrEnum):
    SESSION = "session"
    USER = "user"
    API_KEY = "api_key"


class CredentialsRevoked(Message):
    """On `auth.revoked`: every gateway closes the sockets this covers, with 4001."""

    kind: RevocationKind
    id: str = Field(description="The session id, user id or API key id.")
    reason: str
    time: datetime
