"""The client config file that `vigil login` writes: the gateway and the credentials.

It holds secrets, so it is written with mode 0600 (in a 0700 folder), atomically (a
temporary file renamed over it), and refused when others can read it. Tokens that
the client refreshes are written back, so the next command starts with fresh ones.
"""

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from vigil_cli.errors import CliError, NotLoggedIn
from vigil_cli.settings import RemoteSettings
from vigil_client import ApiKey, Credentials, Tokens


class ClientConfig(BaseModel):
    url: str | None = None
    """The gateway `vigil login` logged in to (None: none saved yet)."""
    username: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    access_token: str | None = Field(default=None, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    expires_at: float | None = None

    def credentials(self) -> Credentials | None:
        if self.api_key:
            return ApiKey(self.api_key)
        if self.access_token:
            expires_at = self.expires_at or Tokens.of_access_token(self.access_token).expires_at
            return Tokens(self.access_token, self.refresh_token, expires_at)
        return None

    def with_tokens(self, tokens: Tokens) -> "ClientConfig":
        return self.model_copy(
            update={
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_at": tokens.expires_at,
                "api_key": None,
            }
        )


def config_path(settings: RemoteSettings) -> Path:
    if settings.config is not None:
        return settings.config
    home = settings.config_home or Path.home() / ".config"
    return home / "vigil" / "config.json"


def load(path: Path) -> ClientConfig:
    """The saved config, or defaults when there is none."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return ClientConfig()
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CliError(
            f"{path} can be read by others (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {path}`, or `vigil login` again"
        )
    try:
        return ClientConfig.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise CliError(f"{path} is not a vigil config ({exc}): run `vigil login` again") from None


def save(path: Path, config: ClientConfig) -> None:
    """Write `config` with mode 0600, replacing the file atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".config-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as file:  # mkstemp makes it 0600
            json.dump(config.model_dump(exclude_none=True), file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def credentials_of(config: ClientConfig, path: Path) -> Credentials:
    credentials = config.credentials()
    if credentials is None:
        raise NotLoggedIn(f"not logged in (no credentials in {path}): run `vigil login`")
    return credentials
