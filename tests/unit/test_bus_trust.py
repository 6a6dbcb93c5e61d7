"""The bus's keys on disk: made once and kept owner-only, the files compose hands each
service (each readable by its own uid only), creds for a remote collector, and a store
from before the locks kept under Vigil's account."""

import os
import stat
from pathlib import Path

import pytest

from vigil.busauth import keys
from vigil.busauth.permissions import ServiceRole
from vigil.busauth.trust import Trust, TrustError
from vigil_cli.bus_setup import adopt_unlocked_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_keys_are_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    first = Trust.in_folder(folder)
    assert mode(folder) == 0o700
    assert {path.name: mode(path) for path in folder.iterdir()} == {
        "operator.nk": 0o600,
        "system.nk": 0o600,
        "account.nk": 0o600,
    }
    again = Trust.in_folder(folder)
    assert again.account.public_key == first.account.public_key
    assert again.operator.public_key == first.operator.public_key
    assert first.account.public_key in again.server_config()
    config = again.server_config()
    for path in folder.iterdir():  # no seed ever reaches the server's config
        assert path.read_text().strip() not in config


def test_a_fresh_folder_is_closed_and_exposed_keys_are_refused(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o755)
    fresh.chmod(0o755)  # as a new Docker volume comes
    Trust.in_folder(fresh)
    assert mode(fresh) == 0o700

    (fresh / "account.nk").chmod(0o644)
    with pytest.raises(TrustError, match="can be read by others"):
        Trust.in_folder(fresh)


@pytest.mark.skipif(os.getuid() != 0, reason="gives files to other uids: needs root")
def test_compose_secrets_are_each_readable_by_their_own_uid_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = {"nats": 20002, "auth": 20001, "collector": 20012, "gateway": 20014}
    for name, uid in owners.items():
        monkeypatch.setenv(f"VIGIL_KEYS_OWNER_{name.upper()}", str(uid))
    out = tmp_path / "run"
    assert keys.main(["--keys", str(tmp_path / "keys"), "secrets", "--out", str(out)]) == 0
    files = {path.name: path.stat() for path in out.iterdir()}
    assert set(files) == {"nats.conf", *(f"{role.value}.creds" for role in ServiceRole)}
    for name, uid in owners.items():
        found = files["nats.conf" if name == "nats" else f"{name}.creds"]
        assert (found.st_uid, stat.S_IMODE(found.st_mode)) == (uid, 0o400), name
    assert stat.S_IMODE(files["deployer.creds"].st_mode) == 0o400  # no owner given: root's


def test_creds_for_a_remote_collector_name_its_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(tmp_path / "keys")
    assert keys.main(["--keys", folder, "creds", "collector", "--host", "docker2"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("-----BEGIN NATS USER JWT-----")
    assert "-----BEGIN USER NKEY SEED-----" in printed
    with pytest.raises(SystemExit):
        keys.main(["--keys", folder, "creds", "collector"])  # which host?
    assert "give --host" in capsys.readouterr().err


def test_a_store_from_before_the_locks_moves_under_the_account(tmp_path: Path) -> None:
    store = tmp_path / "nats"
    old = store / "jetstream" / "$G" / "streams" / "VIGIL_DEPLOYS"
    old.mkdir(parents=True)
    (old / "meta.inf").write_text("{}")
    account = Trust.new().account.public_key
    assert adopt_unlocked_store(store, account)
    assert (store / "jetstream" / account / "streams" / "VIGIL_DEPLOYS" / "meta.inf").exists()
    assert not (store / "jetstream" / "$G").exists()
    assert not adopt_unlocked_store(store, account)  # once only
