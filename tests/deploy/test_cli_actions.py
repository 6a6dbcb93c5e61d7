"""`vigil restart|stop|kill|rm ...` as real processes, through a real gateway to the
deployer of the local engine: the action done and said, several containers at once,
`rm` asked at the prompt (a no leaves the container), and a bad signal said clearly."""

from tests.cli_support import vigil
from tests.docker_engine import Containers, docker
from vigil_deployer.app import DeployerService


def state(name: str) -> str:
    return docker("inspect", "-f", "{{.State.Status}} {{.State.StartedAt}}", name).strip()


async def test_restart_and_stop_say_what_they_did(
    deployer: DeployerService, logged_in: dict[str, str], containers: Containers
) -> None:
    _, first = containers.run("cli1", "sleep", "3600")
    _, second = containers.run("cli2", "sleep", "3600")
    before = state(first)
    restarted = await vigil(logged_in, "restart", first, "-t", "0")
    assert restarted.code == 0, restarted.stderr
    assert restarted.stdout.strip() == f"{first}: restart done (running)"
    assert state(first).split()[0] == "running"
    assert state(first) != before  # started again

    stopped = await vigil(logged_in, "stop", first, second, "nosuchcontainer", "-t", "0")
    assert stopped.code == 1  # one of them was no container
    assert stopped.stdout.splitlines() == [
        f"{first}: stop done (exited)",
        f"{second}: stop done (exited)",
    ]
    assert "nosuchcontainer" in stopped.stderr
    assert "NOT_FOUND" in stopped.stderr


async def test_rm_is_asked_at_the_prompt(
    deployer: DeployerService, logged_in: dict[str, str], containers: Containers
) -> None:
    _, name = containers.run("clirm", "sleep", "3600")
    declined = await vigil(logged_in, "rm", "-f", name, stdin="n\n", timeout=60)
    assert declined.code == 1
    assert f"Remove container {name} on testhost? [y/N]" in declined.stderr
    assert "declined" in declined.stderr
    assert state(name).split()[0] == "running"

    removed = await vigil(logged_in, "rm", "--force", "--yes", name, timeout=60)
    assert removed.code == 0, removed.stderr
    assert removed.stdout.strip() == f"{name}: remove done (removed)"
    assert docker("ps", "-aq", "--filter", f"name={name}").strip() == ""


async def test_a_bad_signal_is_said_before_anything_is_done(
    deployer: DeployerService, logged_in: dict[str, str], containers: Containers
) -> None:
    _, name = containers.run("clikill", "sleep", "3600")
    refused = await vigil(logged_in, "kill", "-s", "SIGNOPE", "--yes", name)
    assert refused.code == 1
    assert "not a signal" in refused.stderr
    assert state(name).split()[0] == "running"
