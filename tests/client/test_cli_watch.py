"""`vigil login`, `vigil top`, `vigil logs` and `vigil alerts` as real processes against
the real stack: auth, gateway on uvicorn, collector, Docker."""

import json
import os
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.cli_support import environment, running, vigil
from tests.conftest import ADMIN_PASSWORD
from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.fleet import Fleet
from tests.support import free_port, raise_alert
from vigil.bus import Bus
from vigil.streams import LATEST
from vigil_cli import local_stack


@pytest.fixture
async def docker_collector(docker_stack: DockerStack) -> AsyncIterator[None]:
    async with docker_stack.collector():
        yield


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_json(path: Path) -> dict[str, str]:
    saved: dict[str, str] = json.loads(path.read_text())
    return saved


async def test_login_saves_tokens_readable_by_the_owner_only(gateway: str, config: Path) -> None:
    env = environment(config)
    url = f"http://{gateway}"
    done = await vigil(
        env, "login", "--url", url, "-u", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n"
    )
    assert done.code == 0, done.stderr
    assert "logged in" in done.stdout
    assert mode_of(config) == 0o600
    saved = read_json(config)
    assert (saved["url"], saved["username"]) == (url, "admin")
    assert saved["access_token"].count(".") == 2
    assert saved["refresh_token"]

    wrong = await vigil(
        env, "login", "--url", url, "-u", "admin", "--password-stdin", stdin="not-the-password\n"
    )
    assert wrong.code == 3
    assert "wrong username or password" in wrong.stderr
    assert read_json(config) == saved  # the good login is kept

    nobody_home = f"http://127.0.0.1:{free_port()}"
    away = await vigil(
        env, "login", "--url", nobody_home, "-u", "admin", "--password-stdin", stdin="x\n"
    )
    assert away.code == 2
    assert "cannot reach the gateway" in away.stderr
    bad_url = await vigil(env, "login", "--url", "ftp://somewhere", "-u", "a", "--password-stdin")
    assert (bad_url.code, "not a gateway URL" in bad_url.stderr) == (1, True)

    os.chmod(config, 0o644)
    exposed = await vigil(env, "alerts")
    assert exposed.code == 1
    assert "can be read by others" in exposed.stderr


async def test_login_says_the_gateway_is_away_before_asking_for_anything(config: Path) -> None:
    env = environment(config)
    nobody_home = f"http://127.0.0.1:{free_port()}"
    for who in ((), ("-u", "admin")):
        away = await vigil(env, "login", "--url", nobody_home, *who, stdin="admin\nsecret\n")
        assert away.code == 2, away
        assert f"cannot reach the gateway at {nobody_home}" in away.stderr
        asked = away.stdout + away.stderr
        assert "username" not in asked, asked
        assert "password" not in asked, asked


async def test_login_finds_the_gateway_that_vigil_up_serves_here(
    gateway: str, config: Path, tmp_path: Path
) -> None:
    port = gateway.rsplit(":", 1)[1]
    password = ADMIN_PASSWORD + "\n"
    on_its_port = environment(config) | {"VIGIL_GATEWAY_PORT": port}  # as `make up` reads it
    done = await vigil(on_its_port, "login", "-u", "admin", "--password-stdin", stdin=password)
    assert done.code == 0, done.stderr
    assert f"logged in to http://127.0.0.1:{port} as admin" in done.stdout

    # Nothing saved, no port set: where the stack recorded it.
    data = tmp_path / "data"
    local_stack.record(data, f"http://{gateway}")
    beside_it = environment(tmp_path / "fresh.json") | {"VIGIL_DATA_DIR": str(data)}
    done = await vigil(beside_it, "login", "-u", "admin", "--password-stdin", stdin=password)
    assert done.code == 0, done.stderr
    assert f"logged in to http://{gateway} as admin" in done.stdout


async def test_commands_without_a_login_say_so(config: Path, gateway: str) -> None:
    done = await vigil(environment(config, f"http://{gateway}"), "alerts")
    assert done.code == 3
    assert "vigil login" in done.stderr


async def test_top_shows_running_containers_refresh_after_refresh(
    logged_in: dict[str, str], docker_collector: None, containers: Containers
) -> None:
    short, name = containers.run("top", "sleep", "3600")
    done = await vigil(logged_in, "top", "--count", "3", "--sort", "memory")
    assert done.code == 0, done.stderr
    tables = [line for line in done.stdout.splitlines() if line.strip().startswith("vigil top")]
    assert len(tables) == 3
    rows = [line for line in done.stdout.splitlines() if short in line]
    assert len(rows) >= 2  # the container, in the refreshes after the first batch
    assert all(name in row and "testhost" in row for row in rows)


def numbers_of(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines]


async def test_logs_prints_the_last_lines_then_follows_a_real_container_without_repeats(
    logged_in: dict[str, str], docker_collector: None, containers: Containers
) -> None:
    counter = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"
    _, name = containers.run("logs", "sh", "-c", counter)

    async with running(logged_in, "logs", "-f", "--tail", "all", name) as follower:
        lines = await follower.read_until(lambda seen: len(seen) >= 30, "30 lines")
        ended = await follower.interrupt()
    followed = numbers_of(lines + ended.stdout.splitlines())
    assert followed == list(range(len(followed)))  # from the first, none twice, none missed
    assert ended.code == 130

    last_five = await vigil(logged_in, "logs", "-n", "5", name)
    assert last_five.code == 0, last_five.stderr
    numbers = numbers_of(last_five.stdout.splitlines())
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    assert numbers[0] >= len(followed) - 5

    async with running(logged_in, "logs", "-f", "-n", "3", name) as follower:
        lines = await follower.read_until(lambda seen: len(seen) >= 23, "20 lines after 3")
        ended = await follower.interrupt()
    followed = numbers_of(lines + ended.stdout.splitlines())
    assert followed == list(range(followed[0], followed[0] + len(followed)))
    assert followed[0] >= numbers[-1] - 2  # the last three when it started, then on


async def test_logs_shows_the_last_100_lines_or_as_many_or_since_a_moment(
    gateway: str,
    admin_token: str,
    logged_in: dict[str, str],
    docker_collector: None,
    containers: Containers,
) -> None:
    script = "i=0; while [ $i -lt 250 ]; do echo line $i; i=$((i+1)); sleep 0.01; done"
    _, name = containers.run("tail", "sh", "-c", f"{script}; echo line 250 done; sleep 3600")
    async with running(logged_in, "logs", "-f", "--tail", "all", name) as follower:
        await follower.read_until(lambda seen: "line 250 done" in seen, "the last line", 60)
        await follower.interrupt()

    async def shown(*options: str) -> list[int]:
        done = await vigil(logged_in, "logs", *options, name)
        assert done.code == 0, done.stderr
        return numbers_of(done.stdout.splitlines())

    assert await shown() == list(range(151, 251))  # docker logs users expect no flood
    assert await shown("-n", "7") == list(range(244, 251))
    assert await shown("--tail", "0") == []
    assert await shown("--tail", "all") == list(range(251))
    assert await shown("--since", "1h") == list(range(251))  # --since alone: every line since

    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        page = await http.get(
            f"/api/docker/{name}/logs",
            params={"limit": 1000},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    times = {line["text"]: line["time"] for line in page.json()["lines"]}
    line_200 = times["line 200"]
    assert await shown("--since", line_200) == list(range(200, 251))
    assert await shown("--since", line_200, "-n", "10") == list(range(241, 251))
    assert await shown("--since", "2999-01-01T00:00:00Z") == []

    naive = await vigil(logged_in, "logs", "--since", "2026-01-01T00:00:00", name)
    assert naive.code == 2
    assert "needs its time zone" in naive.stderr
    bad_tail = await vigil(logged_in, "logs", "-n", "-3", name)
    assert bad_tail.code == 2
    assert "not a number of lines" in bad_tail.stderr


async def test_logs_merges_the_containers_a_label_picks(
    logged_in: dict[str, str], docker_collector: None, containers: Containers
) -> None:
    for source in ("left", "right"):
        counter = f"i=0; while true; do echo {source} $i; i=$((i+1)); sleep 0.1; done"
        containers.run(source, "sh", "-c", counter)
    label = f"vigil.test={containers.label}"
    async with running(logged_in, "logs", "-f", "--label", label, "--grep", "t ") as follower:
        lines = await follower.read_until(
            lambda seen: {"left", "right"} <= {line.split()[-2] for line in seen if "|" in line},
            "lines of both containers",
        )
        await follower.interrupt()
    by_source: dict[str, list[int]] = {}
    for line in lines:
        name, _, text = line.partition(" | ")
        source, number = text.split()
        assert name.endswith(source) or source in name  # each line after its container
        by_source.setdefault(source, []).append(int(number))
    for numbers in by_source.values():  # each container's lines in order, none twice
        assert numbers == sorted(set(numbers))
    both = await vigil(logged_in, "logs", "somename", "--label", label)
    assert both.code == 1
    assert "--label or --name" in both.stderr


async def test_logs_of_a_missing_or_invalid_container_fail_clearly(
    logged_in: dict[str, str], docker_collector: None
) -> None:
    missing = await vigil(logged_in, "logs", "no-such-container")
    assert missing.code == 1
    assert "NOT_FOUND" in missing.stderr
    invalid = await vigil(logged_in, "logs", "a*b")
    assert invalid.code == 1
    assert "invalid container" in invalid.stderr


async def test_alerts_lists_what_is_kept_then_follows_from_there(
    logged_in: dict[str, str], alerts_bus: Bus
) -> None:
    for n in range(3):
        await raise_alert(alerts_bus, n)
    listed = await vigil(logged_in, "alerts")
    assert listed.code == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["TIME", "STATE", "SOURCE"]
    assert [row.split()[-2:] for row in rows] == [["alert", str(n)] for n in range(3)]

    async with running(logged_in, "alerts", "-f", "--json") as follower:
        await follower.read_until(lambda seen: len(seen) == 3, "the kept alerts")
        await raise_alert(alerts_bus, 3)
        lines = await follower.read_until(lambda seen: len(seen) == 4, "the new alert")
        ended = await follower.interrupt()
    assert [json.loads(line)["message"] for line in lines] == [f"alert {n}" for n in range(4)]
    assert ended.code == 130

    bad = await vigil(logged_in, "alerts", "--source", "no.such")
    assert bad.code == 1
    assert "invalid source" in bad.stderr


async def test_top_marks_a_host_whose_stats_stopped_stale_until_they_come_again(
    logged_in: dict[str, str], alerts_bus: Bus
) -> None:
    bus = alerts_bus
    await bus.js.add_stream(LATEST.config(bus.subjects))
    fleet = Fleet("cli1", size=2)

    async def batch() -> None:  # every 0.5 s, as its collector said: stale after 3 s
        stats = fleet.batch(interval_s=0.5).model_copy(update={"time": datetime.now(UTC)})
        await bus.publish(bus.subjects.docker_metrics("cli1"), stats)

    await batch()
    async with running(logged_in, "top") as top:
        await top.read_until(lambda seen: any("on cli1 (" in line for line in seen), "a table")
        # Its title and its rows (the rows come after the title) say stale.
        stale = await top.read_until(
            lambda seen: any("cli1 stale" in line for line in seen), "the stale rows", 15
        )
        assert any("on cli1 (stale" in line for line in stale)
        shown = len(stale)
        await batch()

        def fresh_table(seen: list[str]) -> list[str]:
            """The rows of the first table since the stale one that calls cli1 live."""
            titles = [i for i, line in enumerate(seen) if i >= shown and "on cli1 (live)" in line]
            return [line for line in seen[titles[0] :] if "cli1" in line][1:] if titles else []

        lines = await top.read_until(lambda seen: len(fresh_table(seen)) == 2, "fresh rows")
        await top.interrupt()
    assert not any("stale" in line for line in fresh_table(lines))
