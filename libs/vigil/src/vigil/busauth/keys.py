"""`python -m vigil.busauth.keys`: the bus's keys for a deployment run by compose.

keys --keys DIR secrets --out DIR [--host H]
    Make the trust in `--keys` on the first run (and keep it), then write into `--out`
    the NATS server's configuration and each role's creds, each file readable only by
    the uid `VIGIL_KEYS_OWNER_<ROLE>` names (`..._NATS` for the server's config), so
    no service can read another's. Compose runs this as its `bus-keys` job, as root,
    before NATS starts.
keys --keys DIR creds ROLE [--host H]
    Print a creds file for ROLE (a collector or deployer of host H): for a collector on
    another machine, say (README: "A collector per Docker host").
"""

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vigil.busauth.permissions import ServiceRole
from vigil.busauth.trust import Trust, TrustError, write_secret
from vigil.settings import VigilSettings
from vigil.subjects import ANY, Token

SERVER = "nats"
"""The owner name of the server's configuration in `--owner`."""
HOST_ROLES = (ServiceRole.COLLECTOR, ServiceRole.DEPLOYER)


def write_secrets(
    trust: Trust, out: Path, settings: VigilSettings, host: str, owners: dict[str, int]
) -> list[Path]:
    """The server's config and every role's creds in `out`, each owned by its reader."""
    out.mkdir(mode=0o755, parents=True, exist_ok=True)  # listable; each file is not
    files = {SERVER: (out / "nats.conf", trust.server_config())}
    for role in ServiceRole:
        on: Token = host if role in HOST_ROLES else ANY
        creds = trust.service_creds(role, settings.subjects, host=on)
        files[role.value] = (out / f"{role.value}.creds", creds)
    for owner, (path, text) in files.items():
        write_secret(path, text)
        if owner in owners:
            os.chown(path, owners[owner], owners[owner])
        os.chmod(path, 0o400)
    return [path for path, _ in files.values()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vigil.busauth.keys", description=__doc__)
    parser.add_argument("--keys", type=Path, required=True, help="the trust folder")
    commands = parser.add_subparsers(dest="command", required=True)
    secrets = commands.add_parser("secrets", help="write the server config and every creds")
    secrets.add_argument("--out", type=Path, required=True)
    secrets.add_argument("--host", default="docker1", help="the Docker host of this stack")
    creds = commands.add_parser("creds", help="print one role's creds")
    creds.add_argument("role", choices=[role.value for role in ServiceRole])
    creds.add_argument("--host", help="the host a collector or deployer serves")
    args = parser.parse_args(argv)
    try:
        trust = Trust.in_folder(args.keys)
        settings = VigilSettings()
        if args.command == "secrets":
            for path in write_secrets(trust, args.out, settings, args.host, owners()):
                print(f"wrote {path}")
        else:
            role = ServiceRole(args.role)
            if role in HOST_ROLES and not args.host:
                parser.error(f"a {role} serves one host: give --host")
            host: Token = args.host if role in HOST_ROLES else ANY
            print(trust.service_creds(role, settings.subjects, host=host), end="")
    except (TrustError, OSError, ValueError) as exc:
        print(f"vigil.busauth.keys: {exc}", file=sys.stderr)
        return 1
    return 0


def owners() -> dict[str, int]:
    """Who reads each file, from `VIGIL_KEYS_OWNER_<NAME>` (compose sets them)."""
    found = {}
    for name in (SERVER, *(role.value for role in ServiceRole)):
        uid = os.environ.get(f"VIGIL_KEYS_OWNER_{name.upper()}")
        if uid is not None:
            if not uid.isdigit():
                raise ValueError(f"VIGIL_KEYS_OWNER_{name.upper()}={uid!r}: a numeric uid")
            found[name] = int(uid)
    return found


if __name__ == "__main__":
    sys.exit(main())
