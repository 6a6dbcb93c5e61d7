"""The auth service's requests and replies on `ctl.auth.*`, and revocations."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from vigil.access import ClusterGrant, Role, Username
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
    session_id: str = Field(max_length=64)


class GetSigningKeys(Message):
    """Ask for the public JWKS that gateways verify access tokens with."""


class JwkSet(Message):
    keys: list[dict[str, Any]]


class AccessClaims(Message):
    """The payload of Vigil's access JWTs: the auth service signs, gateways verify."""

    iss: str
    aud: str
    sub: str = Field(description="The user id.")
    name: str = Field(description="The username.")
    roles: list[Role]
    clusters: list[str]
    sid: str = Field(description="The session (refresh-token family) id.")
    jti: str
    iat: int
    nbf: int
    exp: int


class VerifyApiKey(Message):
    api_key: str = Field(max_length=512, repr=False)


class Actor(Message):
    """Who asks for an admin operation, for the audit log."""

    id: str
    name: str


class UserDraft(Message):
    """A new user, as an admin sends it (`POST /api/auth/users`)."""

    username: Username
    password: str = Field(min_length=8, max_length=1024, repr=False)
    roles: list[Role] = Field(min_length=1)
    clusters: list[ClusterGrant] = Field(default_factory=list)


class CreateUser(UserDraft):
    actor: Actor


class ListUsers(Message):
    actor: Actor


class DisableUser(Message):
    actor: Actor
    username: Username


class UserView(Message):
    id: str
    username: str
    roles: list[Role]
    clusters: list[str]
    disabled: bool
    created_at: datetime


class UserList(Message):
    users: list[UserView]


class ApiKeyDraft(Message):
    """A new API key, as an admin sends it (`POST /api/auth/keys`)."""

    name: str = Field(min_length=1, max_length=128)
    role: Role
    clusters: list[ClusterGrant] = Field(default_factory=list)
    expires_at: datetime | None = None


class CreateApiKey(ApiKeyDraft):
    actor: Actor


class ListApiKeys(Message):
    actor: Actor


class RevokeApiKey(Message):
    actor: Actor
    key_id: str = Field(max_length=64)


class ApiKeyView(Message):
    id: str
    name: str
    role: Role
    clusters: list[str]
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
