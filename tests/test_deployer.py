"""The deployer against a real Docker engine, a real registry and a real NATS: pulls with
per-layer progress, both strategies, rollback on every kind of failure, cancel, one
deploy per service at a time, and a replica dying mid-deploy."""

import asyncio
import signal

import pytest

from tests.deploy_support import (
    FAILED,
    FINISHED,
    STARTED,
    TEST_HOST,
    Deployment,
    containers,
    deployer_process,
    run_deployer,
    serves,
)
from vigil import ctl
from vigil.errors import BusUnavailable
from vigil.messages import (
    CancelDeploy,
    DeployState,
    DeployStep,
    ErrorCode,
    ListDeployHosts,
    StepState,
)
from vigil.operations import Deploy
from vigil_deployer.app import DeployerService
from vigil_deployer.settings import DeployerSettings

PULL, HEALTH, ROLLBACK = DeployStep.PULL, DeployStep.HEALTH, DeployStep.ROLLBACK


async def test_pull_progress_is_journaled_per_layer_and_reaches_100_percent(
    deployer: DeployerService, deployment: Deployment
) -> None:
    spec = deployment.spec(image=deployment.images.big)
    record, journal = await deployment.run(spec)

    assert record.state is DeployState.SUCCEEDED, record.reason
    progress = [e for e in journal.events if e.step is PULL and e.status is StepState.PROGRESS]
    assert progress, "no pull progress was journaled"
    percents = [e.percent for e in progress]
    assert percents == sorted(percents), f"progress went backwards: {percents}"
    last = progress[-1].progress
    assert last is not None
    assert last.percent == 100.0
    assert last.total >= 5_000_000  # the two blobs, at least
    assert len(last.layers) >= 3  # busybox, index, blob1, blob2 (busybox may exist)
    assert all(layer.percent == 100.0 for layer in last.layers)
    assert ("pull", "finished") in journal.steps()
    assert serves(spec.name) == "big"


async def test_an_image_already_present_is_not_pulled(
    deployer: DeployerService, deployment: Deployment
) -> None:
    base = deployment.images.base  # made locally, never pushed
    spec = deployment.spec(
        image=base, command=["sleep", "600"], ports=[], health={"kind": "running", "seconds": 0.3}
    )
    record, journal = await deployment.run(spec)

    assert record.state is DeployState.SUCCEEDED, record.reason
    assert ("pull", "skipped") in journal.steps()
    assert not [e for e in journal.events if e.step is PULL and e.status is StepState.PROGRESS]


@pytest.mark.parametrize("strategy", ["recreate", "start-first"])
async def test_a_new_version_replaces_the_old_one_and_serves(
    deployer: DeployerService, deployment: Deployment, strategy: str
) -> None:
    first, _ = await deployment.run(deployment.spec(strategy=strategy))
    assert first.state is DeployState.SUCCEEDED, first.reason
    name = first.spec.name
    assert serves(name) == "v1"

    second = await deployment.start(
        deployment.spec(image=deployment.images.web(2), strategy=strategy)
    )
    async with deployment.journal(second.id) as journal:
        await journal.wait_for(lambda e: e.step is HEALTH and e.status is STARTED, "health")
        # start-first: the old one serves while the new one proves itself
        old_serves_meanwhile = serves(name)
        end = await journal.ended()

    assert end.state is DeployState.SUCCEEDED, end.message
    assert serves(name) == "v2"
    assert containers(deployment.prefix) == [name]
    if strategy == "start-first":
        assert old_serves_meanwhile == "v1"
    assert [s for s, status in journal.steps() if status in {"finished", "skipped"}] == [
        "queue",
        "validate",
        "pull",
        "create",
        "start",
        "health",
        "switch",
        "cleanup",
        "done",
    ]


@pytest.mark.parametrize(
    "health",
    [
        {"kind": "tcp", "port": 8080, "timeout_s": 10},
        {
            "kind": "docker",
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index"],
            "interval_s": 0.3,
            "timeout_s": 15,
        },
    ],
    ids=["tcp", "docker-healthcheck"],
)
async def test_each_kind_of_health_check_proves_the_new_container_healthy(
    deployer: DeployerService, deployment: Deployment, health: dict[str, object]
) -> None:
    record, journal = await deployment.run(deployment.spec(health=health))

    assert record.state is DeployState.SUCCEEDED, record.reason
    finished = next(e for e in journal.events if e.step is HEALTH and e.status is FINISHED)
    assert finished.message.startswith("healthy")
    assert serves(record.spec.name) == "v1"


async def test_a_failing_command_rolls_back_and_the_old_container_still_serves(
    deployer: DeployerService, deployment: Deployment
) -> None:
    first, _ = await deployment.run(deployment.spec())
    name = first.spec.name

    record, journal = await deployment.run(
        deployment.spec(image=deployment.images.web(2), command=["false"])
    )

    assert record.state is DeployState.FAILED
    assert "exited with code 1" in (record.reason or "")
    assert (HEALTH.value, FAILED.value) in journal.steps()
    assert (ROLLBACK.value, FINISHED.value) in journal.steps()
    assert serves(name) == "v1"
    assert containers(deployment.prefix) == [name]


async def test_an_image_the_registry_does_not_have_fails_the_pull_and_leaves_nothing(
    deployer: DeployerService, deployment: Deployment
) -> None:
    missing = f"{deployment.images.registry}/vigil-test/missing:1"
    record, journal = await deployment.run(deployment.spec(image=missing))

    assert record.state is DeployState.FAILED
    assert (record.reason or "").startswith("pull: ")
    assert (PULL.value, FAILED.value) in journal.steps()
    assert containers(deployment.prefix) == []


async def test_a_container_that_never_gets_healthy_is_rolled_back_at_the_deadline(
    deployer: DeployerService, deployment: Deployment
) -> None:
    first, _ = await deployment.run(deployment.spec())
    name = first.spec.name
    silent = deployment.spec(
        image=deployment.images.web(2),
        command=["sleep", "600"],
        health={"kind": "http", "port": 8080, "path": "/index", "timeout_s": 1.5},
    )

    record, journal = await deployment.run(silent)

    assert record.state is DeployState.FAILED
    assert "not healthy within 1.5 s" in (record.reason or "")
    assert (ROLLBACK.value, FINISHED.value) in journal.steps()
    assert serves(name) == "v1"
    assert containers(deployment.prefix) == [name]


async def test_cancel_mid_deploy_stops_and_rolls_back(
    deployer: DeployerService, deployment: Deployment
) -> None:
    first, _ = await deployment.run(deployment.spec())
    name = first.spec.name
    slow = deployment.spec(
        image=deployment.images.web(2), health={"kind": "running", "seconds": 60}
    )
    record = await deployment.start(slow)
    async with deployment.journal(record.id) as journal:
        await journal.wait_for(lambda e: e.step is HEALTH and e.status is STARTED, "health")
        cancelled = await ctl.call(
            deployment.bus, Deploy.CANCEL, CancelDeploy(deploy_id=record.id, actor="bob")
        )
        assert cancelled.cancel_requested_by == "bob"
        end = await journal.ended(timeout=15)

    assert end.state is DeployState.CANCELLED
    assert "cancelled by bob" in end.message
    assert serves(name) == "v1"
    assert containers(deployment.prefix) == [name]
    with pytest.raises(ctl.Refused) as again:
        await ctl.call(deployment.bus, Deploy.CANCEL, CancelDeploy(deploy_id=record.id, actor="b"))
    assert again.value.code is ErrorCode.CONFLICT


async def test_a_second_deploy_of_the_same_service_is_refused_while_one_runs(
    deployer: DeployerService, deployment: Deployment
) -> None:
    slow = deployment.spec(health={"kind": "running", "seconds": 1.5})
    running = await deployment.start(slow)

    with pytest.raises(ctl.Refused) as refused:
        await deployment.start(deployment.spec(image=deployment.images.web(2)))
    assert refused.value.code is ErrorCode.CONFLICT
    assert running.id in refused.value.message
    other = await deployment.start(deployment.spec(name="other"))  # another service may

    async with deployment.journal(running.id) as journal:
        assert (await journal.ended()).state is DeployState.SUCCEEDED
    again, _ = await deployment.run(deployment.spec(image=deployment.images.web(2)))
    assert again.state is DeployState.SUCCEEDED, again.reason
    assert serves(slow.name) == "v2"
    async with deployment.journal(other.id) as journal:
        assert (await journal.ended()).state is DeployState.SUCCEEDED


async def test_with_two_replicas_each_deploy_is_run_by_exactly_one(
    deployer_settings: DeployerSettings, deployment: Deployment
) -> None:
    quick = {"kind": "running", "seconds": 0.2}
    async with run_deployer(deployer_settings), run_deployer(deployer_settings):
        started = [
            await deployment.start(deployment.spec(name=f"svc{n}", ports=[], health=quick))
            for n in range(4)
        ]
        for record in started:
            async with deployment.journal(record.id) as journal:
                end = await journal.ended()
            assert end.state is DeployState.SUCCEEDED, end.message
            workers = {e.worker for e in journal.events if e.step is not DeployStep.QUEUE}
            assert len(workers) == 1, f"{record.id} was run by {workers}"
            assert journal.steps().count(("validate", "started")) == 1


async def test_a_deployer_killed_mid_deploy_is_rolled_back_by_another_replica(
    deployer_settings: DeployerSettings, deployment: Deployment
) -> None:
    process = deployer_process(deployer_settings)
    try:
        await _until_host_is_served(deployment)
        first, _ = await deployment.run(deployment.spec())
        name = first.spec.name
        slow = deployment.spec(
            image=deployment.images.web(2), health={"kind": "running", "seconds": 60}
        )
        record = await deployment.start(slow)
        async with deployment.journal(record.id) as journal:
            health = await journal.wait_for(
                lambda e: e.step is HEALTH and e.status is STARTED, "health"
            )
            assert serves(name) == ""  # recreate stopped v1: only a rollback brings it back
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            async with run_deployer(deployer_settings):
                end = await journal.ended(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    assert end.state is DeployState.FAILED
    assert "stopped answering" in end.message
    assert end.worker not in {None, health.worker}  # the second replica finished it
    assert serves(name) == "v1"
    assert containers(deployment.prefix) == [name]


async def test_a_deployer_stopped_with_sigterm_rolls_back_what_it_runs_first(
    deployer_settings: DeployerSettings, deployment: Deployment
) -> None:
    process = deployer_process(deployer_settings)
    try:
        await _until_host_is_served(deployment)
        first, _ = await deployment.run(deployment.spec())
        name = first.spec.name
        slow = deployment.spec(
            image=deployment.images.web(2), health={"kind": "running", "seconds": 60}
        )
        record = await deployment.start(slow)
        async with deployment.journal(record.id) as journal:
            await journal.wait_for(lambda e: e.step is HEALTH and e.status is STARTED, "health")
            process.send_signal(signal.SIGTERM)
            end = await journal.ended(timeout=15)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    assert end.state is DeployState.FAILED
    assert "shutting down" in end.message
    assert serves(name) == "v1"
    assert containers(deployment.prefix) == [name]


async def _until_host_is_served(deployment: Deployment) -> None:
    """Until a deployer (the process, starting) answers that it serves the test host."""
    async with asyncio.timeout(20):
        while True:
            try:
                served = await ctl.call(deployment.bus, Deploy.HOSTS, ListDeployHosts(), 1.0)
                if TEST_HOST in served.hosts:
                    return
            except BusUnavailable:
                pass
            await asyncio.sleep(0.1)
