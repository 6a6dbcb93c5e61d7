"""The secret that encrypts the signing keys at rest: Fernet keys, one a line, in a file.

The first key encrypts and every key decrypts (cryptography's `MultiFernet`), which is
how the secret itself is rotated: put a new key on top, restart the replicas, and once
a refresh has re-encrypted the ring with it, drop the old one. Blank lines and lines
starting with `#` are ignored. The file is read once, at start.

A first start may make the file (`make_file`): owner-only, one new key, written whole
under a temporary name and linked into place, so replicas starting together agree on
one file and none reads half of it.

`python -m vigil_auth.secret_key` prints a new key: one line for the file.
"""

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from vigil_auth.errors import SecretFileInvalid

_HEADER = (
    "# Vigil auth: the keys that encrypt the token signing keys in the AUTH_SIGNING_KEYS\n"
    "# bucket. The first encrypts, all decrypt. Back this file up, apart from the NATS\n"
    "# data: without it the signing keys cannot be read.\n"
)


class SigningKeySecret:
    """Encrypts with the first of `keys`, decrypts with any."""

    def __init__(self, keys: Sequence[Fernet]) -> None:
        if not keys:
            raise ValueError("a signing-key secret needs at least one key")
        self._first = keys[0]
        self._all = MultiFernet(list(keys))

    @classmethod
    def read(cls, path: Path) -> "SigningKeySecret":
        """The keys in `path`; `FileNotFoundError` if it is not there."""
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretFileInvalid(path, f"cannot be read ({type(exc).__name__})") from None
        keys: list[Fernet] = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                keys.append(Fernet(line))
            except ValueError:  # never echo the line: it may be a real key, mistyped
                raise SecretFileInvalid(
                    path, f"line {number} is not a Fernet key (32 url-safe base64 bytes)"
                ) from None
        if not keys:
            raise SecretFileInvalid(path, "holds no key")
        return cls(keys)

    def encrypt(self, secret: bytes) -> str:
        return self._first.encrypt(secret).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        """The secret in `token`; `InvalidToken` when no key opens it (or it was altered)."""
        return self._all.decrypt(token.encode("ascii"))

    def encrypted_with_first(self, token: str) -> bool:
        try:
            self._first.decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True

    def reencrypt(self, token: str) -> str:
        """`token` encrypted with the first key (`InvalidToken` when no key opens it)."""
        return self._all.rotate(token.encode("ascii")).decode("ascii")


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def make_file(path: Path) -> bool:
    """Make `path` with one new key, owner-only; False when it appeared meanwhile."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise SecretFileInvalid(
            path, f"does not exist and cannot be made ({type(exc).__name__})"
        ) from None
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:  # mkstemp: mode 0600
            file.write(_HEADER + new_key() + "\n")
        os.link(draft, path)  # never replaces: another replica's file wins
    except FileExistsError:
        return False
    finally:
        os.unlink(draft)
    return True


def main(argv: Sequence[str] | None = None) -> None:
    argparse.ArgumentParser(
        prog="python -m vigil_auth.secret_key",
        description=(
            "Print a new Fernet key, a line for VIGIL_AUTH_SIGNING_KEY_SECRET_FILE. "
            "To rotate, put it on the first line, restart every auth replica, wait for a "
            "signing-key check (VIGIL_AUTH_SIGNING_KEY_CHECK_S), then drop the old line."
        ),
    ).parse_args(argv)
    print(new_key())


if __name__ == "__main__":
    main()
