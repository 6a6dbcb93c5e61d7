"""Auth settings, from `VIGIL_AUTH_...` (shared ones from `VIGIL_...`)."""

from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from vigil.probe import ProbeSettings
from vigil.streams import LOGIN_FAILURES, REVOKED, SESSIONS

_DAY_S = 24 * 3600


def _seconds(age: timedelta | None) -> int:
    """The age limit a stream or bucket of `vigil.streams` declares."""
    assert age is not None, "the stream or bucket declares no age limit"
    return int(age.total_seconds())


class AuthSettings(ProbeSettings):
    # Errors name the setting, never echo the input: it holds the admin password.
    model_config = SettingsConfigDict(env_prefix="VIGIL_AUTH_", hide_input_in_errors=True)

    access_token_ttl_s: int = Field(
        default=900,
        ge=10,
        le=_seconds(REVOKED.max_age),  # revocations must outlive every access token
    )
    delegated_token_ttl_s: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="Tokens minted for an API key or an external token (gateway to services).",
    )
    jwks_refresh_min_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="An unknown `kid` re-reads the signing keys at most this often.",
    )
    refresh_ttl_s: int = Field(
        default=30 * _DAY_S,
        ge=60,
        le=_seconds(SESSIONS.ttl),  # the bucket forgets sessions after this anyway
        description="How long a session (login) lasts; refreshing does not extend it.",
    )
    signing_key_rotation_s: float = Field(default=_DAY_S, gt=0)
    signing_key_check_s: float = Field(
        default=60.0, gt=0, description="How often each replica looks for a due rotation."
    )
    signing_key_secret_file: Path | None = Field(
        default=None,
        description="A file of Fernet keys, one a line, that encrypt the signing keys at rest "
        "(the first encrypts, all decrypt); made, owner-only, at a first start when missing.",
    )
    signing_keys_in_clear: bool = Field(
        default=False,
        description="Development only: without a secret file, store the signing keys "
        "unencrypted (whoever reads the bucket can mint tokens).",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("admin_password", "VIGIL_ADMIN_PASSWORD"),
        description="The first admin's password; generated and printed once when unset.",
    )
    login_free_failures: int = Field(
        default=5, ge=1, description="Failed logins of one username at one address before slowdown."
    )
    login_backoff_s: float = Field(
        default=1.0, gt=0, description="The first wait after the free failures; doubles on."
    )
    login_backoff_max_s: float = Field(
        default=900.0,
        gt=0,
        le=_seconds(LOGIN_FAILURES.ttl),  # the bucket forgets failures after this
        description="The longest wait of one username at one address.",
    )
    login_address_free_failures: int = Field(
        default=50,
        ge=1,
        description="Failed logins from one address, any usernames, per hour before slowdown.",
    )
    login_address_backoff_max_s: float = Field(
        default=60.0,
        gt=0,
        le=_seconds(LOGIN_FAILURES.ttl),
        description="The longest wait of an address (short: behind a proxy it is everyone's).",
        # login_backoff_s above it is no error: every lock of an address is then this long.
    )
    max_concurrent_hashes: int = Field(
        default=4, ge=1, le=64, description="Password hashes computed at once (CPU and memory)."
    )
    max_queued_hashes: int = Field(
        default=32,
        ge=0,
        le=1024,
        description="Password hashes waiting for a slot at most; past it, or when one could "
        "not finish before its caller gives up, a login or user creation is refused at once.",
    )

    @field_validator("admin_password")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("VIGIL_ADMIN_PASSWORD must have at least 8 characters")
        return value

    @model_validator(mode="after")
    def _signing_keys_protected(self) -> "AuthSettings":
        """Signing keys at rest are encrypted, unless development opts out on purpose."""
        if self.signing_keys_in_clear and self.environment == "production":
            raise ValueError("VIGIL_AUTH_SIGNING_KEYS_IN_CLEAR is refused in production")
        if self.signing_keys_in_clear and self.signing_key_secret_file is not None:
            raise ValueError(
                "VIGIL_AUTH_SIGNING_KEYS_IN_CLEAR contradicts VIGIL_AUTH_SIGNING_KEY_SECRET_FILE:"
                " set one"
            )
        if self.signing_key_secret_file is None and not self.signing_keys_in_clear:
            hint = (
                ""
                if self.environment == "production"
                else (" (or, in development only, VIGIL_AUTH_SIGNING_KEYS_IN_CLEAR=true)")
            )
            raise ValueError(
                "VIGIL_AUTH_SIGNING_KEY_SECRET_FILE must be set: the file of Fernet keys that"
                " encrypts the token signing keys at rest, made at the first start when missing"
                f" (services/auth/README.md){hint}"
            )
        return self

    @model_validator(mode="after")
    def _backoff_fits(self) -> "AuthSettings":
        if self.login_backoff_s > self.login_backoff_max_s:
            raise ValueError("login_backoff_s must not exceed login_backoff_max_s")
        return self
