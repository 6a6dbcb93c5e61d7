"""The first admin: created on the first start, when the USERS bucket is empty.

Its password is `VIGIL_ADMIN_PASSWORD`, or else a generated one that is printed once
to stdout (not logged: logs are kept and shipped, this must not be). When replicas
start together, the revision-checked create lets exactly one of them make the user.
"""

import logging
import secrets

from pydantic import SecretStr

from vigil.access import ALL_CLUSTERS, Role
from vigil.ctl import Refused
from vigil_auth.passwords import Passwords
from vigil_auth.users import UserRecord, Users

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"


async def bootstrap_admin(
    users: Users, passwords: Passwords, admin_password: SecretStr | None
) -> UserRecord | None:
    """Create `admin` if there are no users at all; returns it when this call did."""
    if not await users.is_empty():
        return None
    password = (
        admin_password.get_secret_value()
        if admin_password is not None
        else secrets.token_urlsafe(18)
    )
    try:
        admin = await users.create(
            ADMIN_USERNAME,
            await passwords.hash(password),
            [Role.ADMIN],
            [ALL_CLUSTERS],
            created_by="bootstrap",
        )
    except Refused:  # another replica created it a moment ago
        log.info("the first admin was created by another replica")
        return None
    if admin_password is None:
        _print_banner(password)
    else:
        log.info("created user %r with the password from VIGIL_ADMIN_PASSWORD", ADMIN_USERNAME)
    return admin


def _print_banner(password: str) -> None:
    rule = "=" * 72
    print(
        f"\n{rule}\n"
        "  Vigil: the first admin user was created.\n\n"
        f"    username: {ADMIN_USERNAME}\n"
        f"    password: {password}\n\n"
        "  This password is shown once only: keep it somewhere safe now.\n"
        "  (Set VIGIL_ADMIN_PASSWORD before the first start to choose it instead.)\n"
        f"{rule}\n",
        flush=True,
    )
