"""The locked bus `vigil up` runs: its keys, the server's configuration, each service's
credentials, and the streams made before any service starts.

The operator and account keys are made on the first start in `<data dir>/secrets`
(mode 0700, files 0600) and kept; each service's `.creds` is minted anew at every
start from them (so its permissions follow the code of this version), and the
provisioner's creds live only in this process. Every service runs as the same Unix
user here, so their creds keep other users and any other process off the bus, not one
service from another: compose, with a container per service, does that too.
"""

import asyncio
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from vigil.busauth.permissions import ServiceRole
from vigil.busauth.trust import Trust, write_secret
from vigil.errors import BusUnavailable
from vigil.names import default_host_id
from vigil.provision import provision
from vigil.settings import VigilSettings

log = logging.getLogger(__name__)

PROVISION_ATTEMPTS: Final = 20
PROVISION_WAIT_S: Final = 0.5
GLOBAL_ACCOUNT: Final = "$G"
"""Where a NATS server without accounts keeps JetStream (Vigil before its bus had locks)."""


@dataclass(frozen=True)
class BusSetup:
    trust: Trust
    secrets: Path
    nats_config: Path
    settings: VigilSettings
    """The shared settings of the stack (prefix, replicas) and where NATS is."""

    def service_creds(self, role: ServiceRole, environ: Mapping[str, str]) -> Path:
        """The creds file of the service of `role`, minted now (a collector or deployer
        for the host its settings name)."""
        host = {
            ServiceRole.COLLECTOR: "VIGIL_COLLECTOR_HOST",
            ServiceRole.DEPLOYER: "VIGIL_DEPLOYER_HOST",
        }.get(role)
        creds = self.trust.service_creds(
            role,
            self.settings.subjects,
            **({"host": environ.get(host) or default_host_id()} if host else {}),
        )
        path = self.secrets / f"{role.value}.creds"
        write_secret(path, creds)
        return path

    async def provision(self) -> None:
        """Make every stream and bucket (again, after NATS restarts: its store may be new)."""
        creds = self.trust.service_creds(ServiceRole.PROVISIONER, self.settings.subjects)
        for attempt in range(PROVISION_ATTEMPTS):
            try:
                await provision(self.settings, credentials=creds)
                return
            except BusUnavailable:
                if attempt == PROVISION_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(PROVISION_WAIT_S)


def prepare_bus(data_dir: Path, settings: VigilSettings) -> BusSetup:
    """The trust in `data_dir/secrets` (made on first use) and the server config from it."""
    secrets = data_dir.absolute() / "secrets"
    trust = Trust.in_folder(secrets)
    config = secrets / "nats.conf"
    write_secret(config, trust.server_config())
    return BusSetup(trust, secrets, config, settings)


def adopt_unlocked_store(store: Path, account: str) -> bool:
    """A store from before the bus had locks kept JetStream under `$G`; with accounts, the
    same streams live under the account's key. Move them there once, so the users,
    deploys and history made before survive the upgrade. Whether it moved anything."""
    jetstream = store / "jetstream"
    old, new = jetstream / GLOBAL_ACCOUNT, jetstream / account
    if not old.is_dir() or new.exists():
        return False
    shutil.move(old, new)
    log.info("moved the JetStream store of %s to account %s", old, account)
    return True
