"""One handler per operation of `vigil.operations.Auth`: check, call the store, answer.

Each takes the parsed request and returns the reply or raises `Refused`; `serve` makes
them FastStream subscribers (`vigil.broker`), which do the parsing and the envelope. A
login or user creation whose password hash could not finish in half the time its caller
waits (`Operation.timeout_s`; the other half for the rest of the request and a hash
slower than foreseen) is refused before anything is done: `RATE_LIMITED` with
`retry_after_s`, never a timeout for work that then gets done.

Admin operations carry the admin's token, which `vigil.broker.answer_for_users` has
verified (and checked for the role) before the handler gets the principal it proves.
Logins, refreshes, logouts and every admin operation go to the audit trail
(`vigil.audit_trail`: who, what, on what, from where — never a password, token or key
secret); so do refused logins, with the username tried.
"""

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from vigil.access import ALL_CLUSTERS, Permission, Principal, Role
from vigil.audit_trail import AuditTrail
from vigil.broker import ServiceBroker, answer, answer_for_users
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.errors import BusUnavailable
from vigil.issuers import ExternalVerifier
from vigil.messages import (
    ANONYMOUS,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyView,
    AuditActor,
    AuditOutcome,
    CreateApiKey,
    CreateUser,
    CredentialsRevoked,
    DelegatedToken,
    DisableUser,
    Done,
    EndSession,
    ErrorCode,
    ExchangeToken,
    GetSigningKeys,
    JwkSet,
    ListApiKeys,
    ListUsers,
    Login,
    RefreshSession,
    RevocationKind,
    RevokeApiKey,
    TokensIssued,
    UpdateUser,
    UserList,
    UserView,
    VerifyApiKey,
)
from vigil.operations import Auth, Operation
from vigil.tokens import InvalidToken, KeysUnavailable, Verifier
from vigil_auth.api_keys import ApiKeyRecord, ApiKeys
from vigil_auth.clock import Clock
from vigil_auth.errors import HashesBusy, RefreshTokenReused
from vigil_auth.login_guard import LoginGuard
from vigil_auth.passwords import Passwords
from vigil_auth.sessions import SessionRecord, Sessions
from vigil_auth.settings import AuthSettings
from vigil_auth.signing import SigningKeys
from vigil_auth.tokens import AccessTokens
from vigil_auth.users import UserRecord, Users

log = logging.getLogger(__name__)

BAD_LOGIN = "invalid username or password"
BAD_REFRESH = "the refresh token is invalid, expired or revoked"
_REFUSING = 16  # handlers beyond the hash queue's: each refuses a request in microseconds


def serve(
    broker: ServiceBroker, handlers: "Handlers", verifier: Verifier, settings: AuthSettings
) -> None:
    """Every operation of `Auth` as a subscriber of `broker`, answered by `handlers`; those
    that act for a user with the principal whose token `verifier` accepts."""
    # Those that hash a password take every request at once, each into the hash queue
    # or refused by it: none may wait unseen in the subscription meanwhile.
    hashing = settings.max_concurrent_hashes + settings.max_queued_hashes + _REFUSING
    answer(broker, Auth.LOGIN, handlers.login, max_workers=hashing)
    answer(broker, Auth.REFRESH, handlers.refresh)
    answer(broker, Auth.JWKS, handlers.jwks)
    answer(broker, Auth.VERIFY_API_KEY, handlers.verify_api_key)
    answer(broker, Auth.EXCHANGE, handlers.exchange)
    answer_for_users(broker, Auth.LOGOUT, handlers.logout, verifier)
    answer_for_users(broker, Auth.CREATE_USER, handlers.create_user, verifier, max_workers=hashing)
    answer_for_users(broker, Auth.LIST_USERS, handlers.list_users, verifier)
    answer_for_users(broker, Auth.DISABLE_USER, handlers.disable_user, verifier)
    answer_for_users(broker, Auth.UPDATE_USER, handlers.update_user, verifier)
    answer_for_users(broker, Auth.CREATE_API_KEY, handlers.create_api_key, verifier)
    answer_for_users(broker, Auth.LIST_API_KEYS, handlers.list_api_keys, verifier)
    answer_for_users(broker, Auth.REVOKE_API_KEY, handlers.revoke_api_key, verifier)


class Handlers:
    def __init__(
        self,
        *,
        bus: Bus,
        trail: AuditTrail,
        clock: Clock,
        users: Users,
        passwords: Passwords,
        guard: LoginGuard,
        sessions: Sessions,
        tokens: AccessTokens,
        signing_keys: SigningKeys,
        api_keys: ApiKeys,
        external: ExternalVerifier,
    ) -> None:
        self._bus = bus
        self._trail = trail
        self._clock = clock
        self._users = users
        self._passwords = passwords
        self._guard = guard
        self._sessions = sessions
        self._tokens = tokens
        self._signing_keys = signing_keys
        self._api_keys = api_keys
        self._external = external

    # -- sessions -----------------------------------------------------------------

    async def login(self, request: Login) -> TokensIssued:
        deadline = _HashDeadline(Auth.LOGIN)
        tried = AuditActor(kind="anonymous", name=request.username)
        try:
            await self._guard.check(request.username, request.client)
        except Refused as exc:
            self._trail.refused("auth.login", tried, exc.message, address=request.client or None)
            raise
        user = await self._users.find(request.username)
        # The hash is checked even for unknown or disabled users: equal time, equal answer.
        with _refused_when_busy():
            matches = await self._passwords.verify(
                user.password_hash if user else None,
                request.password,
                within_s=deadline.left_s(),
            )
        if user is None or not matches or user.disabled:
            await self._guard.failed(request.username, request.client)
            self._trail.refused("auth.login", tried, BAD_LOGIN, address=request.client or None)
            raise Refused(ErrorCode.INVALID_CREDENTIALS, BAD_LOGIN)
        await self._guard.succeeded(request.username, request.client)
        if self._passwords.needs_rehash(user.password_hash):
            await self._rehash(user, request.password, deadline)
        session, refresh_token = await self._sessions.start(user, request.client)
        self._done("auth.login", user, f"session {session.id}", address=request.client)
        return self._issue(user, session, refresh_token)

    async def _rehash(self, user: UserRecord, password: str, deadline: "_HashDeadline") -> None:
        """A stronger hash of a password just verified: worth it, but not a login's delay."""
        try:
            rehashed = await self._passwords.hash(password, within_s=deadline.left_s())
        except HashesBusy:
            log.info("%s keeps the older hash for now: the hash queue is full", user.username)
            return
        await self._users.replace_password_hash(user, rehashed)

    async def refresh(self, request: RefreshSession) -> TokensIssued:
        try:
            session, refresh_token = await self._sessions.rotate(request.refresh_token)
        except RefreshTokenReused as exc:
            log.warning(
                "a used refresh token of session %s came back; the session is revoked",
                exc.session_id,
            )
            await self._revoke(RevocationKind.SESSION, exc.session_id, "refresh token reused")
            self._trail.refused(
                "auth.refresh",
                ANONYMOUS,
                "a used refresh token came back; the session is revoked",
                target=f"session {exc.session_id}",
            )
            raise Refused(ErrorCode.INVALID_CREDENTIALS, BAD_REFRESH) from None
        user = await self._users.find(session.username)
        if user is None or user.id != session.user_id or user.disabled:
            await self._sessions.end(session.id)
            raise Refused(ErrorCode.INVALID_CREDENTIALS, BAD_REFRESH)
        self._done("auth.refresh", user, f"session {session.id}")
        return self._issue(user, session, refresh_token)

    async def logout(self, request: EndSession, caller: Principal) -> Done:
        session_id = caller.session_id
        if session_id is None:
            raise Refused(ErrorCode.INVALID_MESSAGE, "only a session's access token can log out")
        await self._sessions.end(session_id)
        await self._revoke(RevocationKind.SESSION, session_id, "logout")
        self._done("auth.logout", caller, f"session {session_id}")
        return Done()

    async def jwks(self, request: GetSigningKeys) -> JwkSet:
        return JwkSet(keys=await self._signing_keys.jwks())

    def _issue(self, user: UserRecord, session: SessionRecord, refresh_token: str) -> TokensIssued:
        return TokensIssued(
            access_token=self._tokens.issue(user, session.id),
            refresh_token=refresh_token,
            expires_in=self._tokens.ttl_s,
        )

    # -- API keys -----------------------------------------------------------------

    async def verify_api_key(self, request: VerifyApiKey) -> DelegatedToken:
        key = await self._api_keys.verify(request.api_key)
        return self._tokens.delegate(key.principal())

    async def exchange(self, request: ExchangeToken) -> DelegatedToken:
        """An external issuer's token (verified here again) for one of Vigil's own."""
        try:
            principal = await self._external.verify(request.token)
        except InvalidToken as exc:
            raise Refused(ErrorCode.INVALID_CREDENTIALS, exc.reason) from None
        except KeysUnavailable as exc:
            raise Refused(ErrorCode.UNAVAILABLE, exc.reason) from None
        return self._tokens.delegate(principal)

    async def create_api_key(self, request: CreateApiKey, caller: Principal) -> ApiKeyCreated:
        key, secret = await self._api_keys.create(
            request.name,
            request.role,
            request.clusters,
            request.expires_at,
            caller.name,
            permissions=request.permissions,
        )
        grant = _grant([key.role], key.clusters, key.permissions)
        self._done("auth.apikey_create", caller, _key(key), grant)
        return ApiKeyCreated(key=key.view(), api_key=secret)

    async def list_api_keys(self, request: ListApiKeys, caller: Principal) -> ApiKeyList:
        self._done("auth.apikey_list", caller)
        return ApiKeyList(keys=[key.view() for key in await self._api_keys.all()])

    async def revoke_api_key(self, request: RevokeApiKey, caller: Principal) -> ApiKeyView:
        key = await self._api_keys.revoke(request.key_id)
        self._done("auth.apikey_revoke", caller, _key(key))
        await self._revoke(RevocationKind.API_KEY, key.id, "API key revoked")
        return key.view()

    # -- users --------------------------------------------------------------------

    async def create_user(self, request: CreateUser, caller: Principal) -> UserView:
        deadline = _HashDeadline(Auth.CREATE_USER)
        with _refused_when_busy():
            password_hash = await self._passwords.hash(request.password, within_s=deadline.left_s())
        user = await self._users.create(
            request.username,
            password_hash,
            request.roles,
            request.clusters,
            created_by=caller.name,
            permissions=request.permissions,
        )
        grant = _grant(user.roles, user.clusters, user.permissions)
        self._done("auth.user_create", caller, user.username, grant)
        return user.view()

    async def list_users(self, request: ListUsers, caller: Principal) -> UserList:
        self._done("auth.user_list", caller)
        return UserList(users=[user.view() for user in await self._users.all()])

    async def update_user(self, request: UpdateUser, caller: Principal) -> UserView:
        """The user's roles, clusters or permissions replaced. A narrowing (any of them
        taken away) ends their sessions at once, so no token of the wider access lives
        on; a widening reaches them at their next refresh."""
        before, after = await self._users.update(
            request.username, request.roles, request.clusters, request.permissions
        )
        grant = _grant(after.roles, after.clusters, after.permissions)
        self._done("auth.user_update", caller, after.username, grant)
        if _narrowed(before, after):
            for session in await self._sessions.of_user(after.id):
                await self._sessions.end(session.id)
                await self._revoke(RevocationKind.SESSION, session.id, "access narrowed")
        return after.view()

    async def disable_user(self, request: DisableUser, caller: Principal) -> UserView:
        user = await self._users.disable(request.username)
        self._done("auth.user_disable", caller, user.username)
        await self._revoke(RevocationKind.USER, user.id, "user disabled")
        return user.view()

    # -- the audit trail ------------------------------------------------------------

    def _done(
        self,
        action: str,
        actor: Principal | UserRecord,
        target: str = "",
        detail: str = "",
        *,
        address: str | None = None,
    ) -> None:
        who = (
            AuditActor(kind="user", id=actor.id, name=actor.username)
            if isinstance(actor, UserRecord)
            else actor
        )
        self._trail.record(
            action, AuditOutcome.DONE, who, target=target, detail=detail, address=address or None
        )

    # -- revocations --------------------------------------------------------------

    async def _revoke(self, kind: RevocationKind, id_: str, reason: str) -> None:
        """Tell every gateway, on the REVOKED stream; the caller may retry if NATS is away."""
        event = CredentialsRevoked(kind=kind, id=id_, reason=reason, time=self._clock())
        try:
            await self._bus.publish(self._bus.subjects.auth_revoked(), event)
        except BusUnavailable as exc:
            log.error("could not publish the revocation of %s %s: %s", kind, id_, exc)
            raise Refused(
                ErrorCode.UNAVAILABLE, f"the revocation of {kind} {id_} was not published; retry"
            ) from None


class _HashDeadline:
    """When the password hash of a request of `operation` must be done, its wait in the
    queue included: half of what its caller waits, counted from the handler's start; the
    rest is for the other steps and for a hash slower than foreseen."""

    def __init__(self, operation: Operation[Any, Any]) -> None:
        self._at = time.monotonic() + operation.timeout_s / 2

    def left_s(self) -> float:
        return self._at - time.monotonic()


@contextlib.contextmanager
def _refused_when_busy() -> Iterator[None]:
    try:
        yield
    except HashesBusy as exc:
        log.warning("%s", exc)
        raise Refused(ErrorCode.RATE_LIMITED, str(exc), exc.retry_after_s) from None


def _key(key: ApiKeyRecord) -> str:
    return f"API key {key.id} ({key.name})"


def _narrowed(before: UserRecord, after: UserRecord) -> bool:
    """Whether `after` may do less than `before`: a lower role, a cluster or a permission
    taken away."""
    rank = max(role.rank for role in after.roles) < max(role.rank for role in before.roles)
    clusters = ALL_CLUSTERS not in after.clusters and not set(after.clusters) >= set(
        before.clusters
    )
    return rank or clusters or not set(after.permissions) >= set(before.permissions)


def _grant(roles: list[Role], clusters: list[str], permissions: list[Permission]) -> str:
    granted = f"roles {','.join(roles) or '-'}, clusters {','.join(clusters) or '-'}"
    return f"{granted}, permissions {','.join(permissions)}" if permissions else granted
