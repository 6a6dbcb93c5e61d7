"""The auth service: users, API keys, sessions and signing keys, answered over `ctl.auth.*`.

Every operation of `vigil.operations.Auth` is served in its queue group (FastStream
subscribers on the service's bus: `vigil_auth.handlers.serve`), so replicas share the
work; all state lives in the KV buckets of `vigil.streams`, so any replica can answer
any request. Each replica also checks now and then whether the signing key
is due for rotation.
"""

import asyncio
import logging
from datetime import timedelta

import httpx
import nats.errors

from vigil.audit_trail import AuditTrail
from vigil.broker import ServiceBroker
from vigil.bus import Bus
from vigil.bus_doc import DESCRIPTIONS
from vigil.busauth.permissions import ServiceRole
from vigil.issuers import ExternalVerifier
from vigil.records import Records
from vigil.streams import API_KEYS, AUDIT, LOGIN_FAILURES, REVOKED, SESSIONS, SIGNING_KEYS, USERS
from vigil.tokens import KeySet, TokenVerifier
from vigil_auth.api_keys import ApiKeyRecord, ApiKeys
from vigil_auth.bootstrap import bootstrap_admin
from vigil_auth.clock import Clock, system_clock
from vigil_auth.errors import AuthError, SecretFileInvalid, SigningKeysUnreadable
from vigil_auth.handlers import Handlers, serve
from vigil_auth.login_guard import ADDRESS_WINDOW, Budget, FailedLogins, LoginGuard
from vigil_auth.passwords import Passwords
from vigil_auth.secret_key import SigningKeySecret, make_file
from vigil_auth.sessions import SessionRecord, Sessions
from vigil_auth.settings import AuthSettings
from vigil_auth.signing import Keyring, SigningKeys
from vigil_auth.tokens import AccessTokens
from vigil_auth.users import UserRecord, Users

log = logging.getLogger(__name__)

_CLOCK_LEEWAY = timedelta(minutes=1)


class AuthService:
    def __init__(self, settings: AuthSettings, *, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.bus = Bus(
            settings,
            name="vigil-auth",
            role=ServiceRole.AUTH,
            streams=[REVOKED, AUDIT],
            buckets=[USERS, API_KEYS, SESSIONS, SIGNING_KEYS, LOGIN_FAILURES],
        )
        self.ready = asyncio.Event()  # set once every operation is being answered
        self._clock = clock
        self._passwords = Passwords(settings.max_concurrent_hashes, settings.max_queued_hashes)

    @property
    def healthy(self) -> bool:
        """What its probe's `/healthz` says: answering, on a bus that answers."""
        return self.ready.is_set() and self.bus.is_connected

    async def run(self) -> None:
        """Serve until cancelled; then drain, so requests already taken are answered."""
        await self.bus.connect()
        http = httpx.AsyncClient()
        broker = ServiceBroker(self.bus, self.settings, description=DESCRIPTIONS["auth"])
        trail = AuditTrail(self.bus, "auth")
        try:
            users = Users(await Records.open(self.bus, USERS, UserRecord), self._clock)
            signing_keys = await self._signing_keys()
            await signing_keys.refresh()  # a ring no key opens stops the start here
            await self._passwords.prepare()
            await bootstrap_admin(users, self._passwords, self.settings.admin_password)
            handlers = await self._handlers(users, signing_keys, http, trail)
            serve(broker, handlers, self._verifier(signing_keys), self.settings)
            await broker.start()
            self.ready.set()
            log.info("answering auth requests")
            while True:
                await asyncio.sleep(self.settings.signing_key_check_s)
                try:
                    await signing_keys.refresh()
                except SigningKeysUnreadable as exc:  # e.g. another replica's newer secret
                    log.error("cannot read the signing keys; signing with the last loaded: %s", exc)
                except (AuthError, nats.errors.Error, TimeoutError) as exc:
                    log.warning("could not check the signing keys (next time): %s", exc)
        finally:
            self.ready.clear()
            try:
                await broker.stop()  # requests already taken are answered, within a grace
            finally:
                await trail.close()
                await http.aclose()
                await self.bus.close()

    async def _signing_keys(self) -> SigningKeys:
        settings = self.settings
        records = await Records.open(self.bus, SIGNING_KEYS, Keyring)
        return SigningKeys(
            records,
            self._clock,
            rotation=timedelta(seconds=settings.signing_key_rotation_s),
            # A retired key may still sign on a replica that has not looked yet, and its
            # tokens live their full lifetime after that: publish it until they expire.
            retention=timedelta(seconds=settings.access_token_ttl_s + settings.signing_key_check_s)
            + _CLOCK_LEEWAY,
            secret=await self._signing_key_secret(records),
        )

    def _verifier(self, signing_keys: SigningKeys) -> TokenVerifier:
        """Tokens of the requests that act for a user, checked against our own keys."""
        settings = self.settings
        return TokenVerifier(
            KeySet(signing_keys.jwks, min_interval_s=settings.jwks_refresh_min_interval_s),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
        )

    async def _signing_key_secret(self, records: Records[Keyring]) -> SigningKeySecret | None:
        """The secret file, read once; made at a first start, when nothing needs an old one."""
        path = self.settings.signing_key_secret_file
        if path is None:
            log.warning("signing keys are stored unencrypted (VIGIL_AUTH_SIGNING_KEYS_IN_CLEAR)")
            return None
        try:
            return await asyncio.to_thread(SigningKeySecret.read, path)
        except FileNotFoundError:
            if await SigningKeys.stored_encrypted(records):
                raise SecretFileInvalid(
                    path,
                    f"does not exist, and the keys in {SIGNING_KEYS.base_name} are encrypted:"
                    " restore it from its backup",
                ) from None
        if await asyncio.to_thread(make_file, path):
            log.warning("made %s (owner-only): back it up, apart from the NATS data", path)
        return await asyncio.to_thread(SigningKeySecret.read, path)

    async def _handlers(
        self, users: Users, signing_keys: SigningKeys, http: httpx.AsyncClient, trail: AuditTrail
    ) -> Handlers:
        settings, bus, clock = self.settings, self.bus, self._clock
        return Handlers(
            bus=bus,
            trail=trail,
            clock=clock,
            users=users,
            passwords=self._passwords,
            guard=LoginGuard(
                await Records.open(bus, LOGIN_FAILURES, FailedLogins),
                clock,
                pair=Budget(
                    free_failures=settings.login_free_failures,
                    backoff=timedelta(seconds=settings.login_backoff_s),
                    backoff_max=timedelta(seconds=settings.login_backoff_max_s),
                ),
                address=Budget(
                    free_failures=settings.login_address_free_failures,
                    backoff=timedelta(seconds=settings.login_backoff_s),
                    backoff_max=timedelta(seconds=settings.login_address_backoff_max_s),
                    window=ADDRESS_WINDOW,
                ),
            ),
            sessions=Sessions(
                await Records.open(bus, SESSIONS, SessionRecord),
                clock,
                lifetime=timedelta(seconds=settings.refresh_ttl_s),
            ),
            tokens=AccessTokens(
                signing_keys,
                clock,
                issuer=settings.token_issuer,
                audience=settings.token_audience,
                ttl_s=settings.access_token_ttl_s,
                delegated_ttl_s=settings.delegated_token_ttl_s,
            ),
            signing_keys=signing_keys,
            api_keys=ApiKeys(await Records.open(bus, API_KEYS, ApiKeyRecord), clock),
            external=ExternalVerifier(
                settings.external_issuers,
                http,
                min_interval_s=settings.jwks_refresh_min_interval_s,
            ),
        )


def build_app(settings: AuthSettings, *, clock: Clock = system_clock) -> AuthService:
    return AuthService(settings, clock=clock)
