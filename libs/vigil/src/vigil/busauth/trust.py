"""The root of the bus's authentication: an operator, Vigil's account, and the users the
account signs, one per service role.

The operator and account keys are made once and kept in a folder only their owner can
read (`vigil up`: `<data dir>/secrets`; compose: `make secrets`, as Docker secrets). From
them come the NATS server's configuration (public JWTs only) and each service's `.creds`
file, whose permissions (`vigil.busauth.permissions`) are written into its JWT: adding
a collector for another host needs no change to the server, only a creds file from
`vigil creds`. Anonymous clients are refused: in operator mode NATS knows no other way in.
"""

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from vigil.busauth import nats_jwt
from vigil.busauth.nats_jwt import ACCOUNT, OPERATOR, USER, KeyPair
from vigil.busauth.permissions import Permissions, ServiceRole, permissions
from vigil.subjects import ANY, Subjects, Token

ACCOUNT_NAME: Final = "VIGIL"
MAX_CONTROL_LINE: Final = 64 * 1024
_FILES: Final = {"operator": OPERATOR, "system": ACCOUNT, "account": ACCOUNT}


class TrustError(Exception):
    """The trust folder cannot be used (unreadable, or readable by others)."""


@dataclass(frozen=True)
class Trust:
    operator: KeyPair
    system: KeyPair
    """The system account NATS wants for its own traffic; no service uses it."""
    account: KeyPair
    """Vigil's account: every service's user, and every stream, is in it."""

    @classmethod
    def new(cls) -> "Trust":
        return cls(KeyPair.new(OPERATOR), KeyPair.new(ACCOUNT), KeyPair.new(ACCOUNT))

    @classmethod
    def in_folder(cls, folder: Path) -> "Trust":
        """The trust kept in `folder`, made there (mode 0700, seeds 0600) on first use."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not any((folder / f"{name}.nk").exists() for name in _FILES):
            folder.chmod(0o700)  # a new folder (a fresh volume is 0755): closed before use
        _owner_only(folder)
        seeds = {}
        for name, kind in _FILES.items():
            path = folder / f"{name}.nk"
            if not path.exists():
                write_secret(path, KeyPair.new(kind).seed.decode() + "\n")
            _owner_only(path)
            seeds[name] = KeyPair(path.read_text().strip().encode())
        return cls(seeds["operator"], seeds["system"], seeds["account"])

    # -- the server ---------------------------------------------------------------

    def server_config(self) -> str:
        """The NATS server configuration of this trust (operator mode, JWTs in memory)."""
        operator = nats_jwt.operator_jwt(self.operator, "vigil", self.system.public_key)
        account = nats_jwt.account_jwt(self.operator, self.account, ACCOUNT_NAME, jetstream=True)
        system = nats_jwt.account_jwt(self.operator, self.system, "SYS", jetstream=False)
        return (
            "# Made by Vigil from its trust folder: public keys and JWTs only.\n"
            f"operator: {operator}\n"
            f"system_account: {self.system.public_key}\n"
            "resolver: MEMORY\n"
            "resolver_preload: {\n"
            f"  {self.account.public_key}: {account}\n"
            f"  {self.system.public_key}: {system}\n"
            "}\n"
            "# A client's CONNECT carries its JWT, permissions and all: more than 4 KB.\n"
            f"max_control_line: {MAX_CONTROL_LINE}\n"
        )

    # -- users --------------------------------------------------------------------

    def creds(self, name: str, allowed: Permissions | None) -> str:
        """A `.creds` file for a user called `name`, with `allowed` (None: every subject,
        for tests and tools only)."""
        user = KeyPair.new(USER)
        if allowed is None:
            jwt = nats_jwt.user_jwt(self.account, user, name, publish=None, subscribe=None)
        else:
            jwt = nats_jwt.user_jwt(
                self.account,
                user,
                name,
                publish=list(allowed.publish),
                subscribe=list(allowed.subscribe),
                allow_responses=allowed.allow_responses,
            )
        return nats_jwt.creds(jwt, user)

    def service_creds(
        self,
        role: ServiceRole,
        subjects: Subjects,
        *,
        host: Token = ANY,
        clusters: Iterable[str] | None = None,
    ) -> str:
        """The creds of a service of `role` (a collector or deployer of `host`)."""
        name = role.value if host is ANY else f"{role.value}-{host}"
        return self.creds(name, permissions(role, subjects, host=host, clusters=clusters))


def write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (created so: never a moment open)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


def _owner_only(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TrustError(
            f"{path} can be read by others (mode {stat.S_IMODE(mode):o}): it holds the keys "
            f"of the bus; run `chmod -R go-rwx {path}`"
        )
