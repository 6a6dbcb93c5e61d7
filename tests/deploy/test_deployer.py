"""The deployer against a real Docker engine, a real registry and a real NATS: pulls with
per-layer progress, both strategies, rollback on every kind of failure, cancel, one
deploy per service at a time, and a replica dying mid-deploy."""

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.deploy_support import (
    FAILED,
    FINISHED,
    STARTED,
    TEST_HOST,
    Deployment,
    Registry,
    build_and_push,
    containers,
    deployer_process,
    run_deployer,
    serves,
    slow_proxy,
)
from tests.docker_engine import docker
from vigil import ctl
from vigil.errors import BusUnavailable
from vigil.messages import (
    DeployState,
    DeployStep,
    ErrorCode,
    ListDeployHosts,
    StepState,
)
from vigil.operations import Deploy
from vigil_deployer.app import DeployerService
from vigil_deployer.settings import DeployerSettings
from vigil_deployer.worker import _FETCH_WAIT_S

PULL, HEALTH, ROLLBACK = DeployStep.PULL, DeployStep.HEALTH, DeployStep.ROLLBACK
PULL_LINE = re.compile(r"^\d+\.\d % of (\d+(\.\d)? (B|KiB|MiB|GiB)|\?) \(\d+/\d+ layers\)$")


async def test_pull_progress_is_journaled_per_layer_and_reaches_100_percent(
    deployer: DeployerService, deployment: Deployment, registry: Registry
) -> None:
    # Through a proxy at 3 MB/s: from the registry itself a layer may be in before
    # Docker has said its size, and then no total counts it.
    async with slow_proxy(registry.port, bytes_per_s=3_000_000) as proxy:
        image = deployment.images.big.replace(deployment.images.registry, proxy, 1)
        try:
            record, journal = await deployment.run(deployment.spec(image=image))
        finally:
            with contextlib.suppress(RuntimeError):
                docker("rmi", "-f", image)

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
    # Said in IEC units, as the dashboard and the CLI say sizes; "?" for a total not told.
    said = [e.message for e in progress]
    assert all(PULL_LINE.match(message) for message in said), said
    pulled = [
        e.message for e in journal.events if e.step is PULL and e.status is StepState.FINISHED
    ]
    assert re.search(r" layers, \d+\.\d MiB$", pulled[0]), pulled
    assert serves(record.spec.name) == "big"


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


async def test_env_volumes_restart_policy_and_labels_of_the_spec_reach_the_container(
    deployer: DeployerService, deployment: Deployment, tmp_path: Path
) -> None:
    (tmp_path / "index").write_text("from the volume\n")
    spec = deployment.spec(
        command=["httpd", "-f", "-p", "8080", "-h", "/srv"],
        env={"GREETING": "hello there"},
        volumes=[{"source": str(tmp_path), "target": "/srv", "read_only": True}],
        restart_policy="on-failure",
        labels={"vigil-test": deployment.prefix, "team": "blue"},
    )
    record, _ = await deployment.run(spec)

    assert record.state is DeployState.SUCCEEDED, record.reason
    name = spec.name
    inspected = json.loads(docker("inspect", name))[0]
    assert "GREETING=hello there" in inspected["Config"]["Env"]
    assert docker("exec", name, "sh", "-c", 'echo "$GREETING"') == "hello there\n"
    assert inspected["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
    [mount] = [m for m in inspected["Mounts"] if m["Destination"] == "/srv"]
    assert (mount["Source"], mount["RW"]) == (str(tmp_path), False)
    assert serves(name) == "from the volume"  # the container serves the host folder
    with pytest.raises(RuntimeError, match="Read-only file system"):
        docker("exec", name, "touch", "/srv/written")
    labels = inspected["Config"]["Labels"]
    assert labels["team"] == "blue"
    assert (labels["vigil.deploy.service"], labels["vigil.deploy.id"]) == (name, record.id)


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


async def test_a_crashing_container_is_not_restarted_and_its_output_is_journaled_once(
    deployer: DeployerService, deployment: Deployment
) -> None:
    said = "cannot read /etc/web/settings.toml"
    crashing = deployment.spec(
        command=["sh", "-c", f"echo {said}; exit 3"], restart_policy="always"
    )
    record, journal = await deployment.run(crashing)

    assert record.state is DeployState.FAILED
    saying = [e for e in journal.events if said in e.message]
    assert [(e.step, e.status) for e in saying] == [(HEALTH, FAILED)], journal.steps()
    assert saying[0].message == f"the new container exited with code 3; its last output: {said}"
    headline = "health: the new container exited with code 3"
    [rolling_back] = [e for e in journal.events if e.step is ROLLBACK and e.status is STARTED]
    assert rolling_back.message == f"rolling back: {headline}"
    assert journal.events[-1].message == f"failed: {headline}; rolled back"
    assert record.reason == f"{headline}; its last output: {said}"


async def test_a_failing_start_first_deploy_never_interrupts_the_old_container(
    deployer: DeployerService, deployment: Deployment
) -> None:
    first, _ = await deployment.run(deployment.spec(strategy="start-first"))
    name = first.spec.name
    old = docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name)
    never_healthy = deployment.spec(
        image=deployment.images.web(2),
        strategy="start-first",
        command=["sleep", "600"],
        health={"kind": "http", "port": 8080, "path": "/index", "timeout_s": 2},
    )
    record = await deployment.start(never_healthy)
    answers: list[tuple[str, str]] = []  # (the step then, what the service answered)
    async with deployment.journal(record.id) as journal:

        async def ask_the_service_until_the_end() -> None:
            while not journal.events or journal.events[-1].step is not DeployStep.DONE:
                step = journal.events[-1].step.value if journal.events else "queue"
                answers.append((step, await asyncio.to_thread(serves, name)))

        asking = asyncio.create_task(ask_the_service_until_the_end())
        end = await journal.ended()
        await asking

    assert end.state is DeployState.FAILED
    assert "not healthy within 2 s" in end.message
    assert {answer for _, answer in answers} == {"v1"}, answers
    assert "health" in {step for step, _ in answers}  # asked while both containers ran
    assert (ROLLBACK.value, FINISHED.value) in journal.steps()
    assert docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name) == old  # never stopped
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
        cancelled = await deployment.cancel(record.id, who="bob")
        assert cancelled.cancel_requested_by == "bob"
        end = await journal.ended(timeout=15)

    assert end.state is DeployState.CANCELLED
    assert "cancelled by bob" in end.message
    assert serves(name) == "v1"
    assert containers(deployment.prefix) == [name]
    with pytest.raises(ctl.Refused) as again:
        await deployment.cancel(record.id, who="bob")
    assert again.value.code is ErrorCode.CONFLICT


async def test_cancel_while_pulling_abandons_the_pull_and_the_old_container_serves_on(
    deployer: DeployerService, deployment: Deployment, registry: Registry, tmp_path: Path
) -> None:
    first, _ = await deployment.run(deployment.spec())
    name = first.spec.name
    # An image of this test's own (its layers are nowhere else), reached through a
    # proxy slow enough that its pull lasts far longer than a cancel takes.
    slow = f"vigil-test/slow-{deployment.prefix}:1"
    blob = {"index": b"slow\n", "blob": os.urandom(2_000_000)}
    images = deployment.images
    await asyncio.to_thread(
        build_and_push, images.base, f"{images.registry}/{slow}", tmp_path / "slow", blob
    )
    async with slow_proxy(registry.port, bytes_per_s=200_000) as proxy:
        record = await deployment.start(deployment.spec(image=f"{proxy}/{slow}"))
        async with deployment.journal(record.id) as journal:
            await journal.wait_for(
                lambda e: e.step is PULL and e.status is StepState.PROGRESS, "pull progress"
            )
            await deployment.cancel(record.id, who="bob")
            end = await journal.ended(timeout=15)

    assert end.state is DeployState.CANCELLED, end.message
    assert "cancelled by bob" in end.message
    steps = journal.steps()
    assert (PULL.value, FINISHED.value) not in steps
    assert not [step for step, _ in steps if step in {"create", "start", "health", "switch"}]
    assert (ROLLBACK.value, FINISHED.value) in steps
    assert serves(name) == "v1"
    assert containers(deployment.prefix) == [name]
    with pytest.raises(RuntimeError, match="No such image"):
        docker("image", "inspect", f"{proxy}/{slow}")


async def test_a_deploy_cancelled_while_queued_ends_at_once_and_never_runs(
    deployer_settings: DeployerSettings, deployment: Deployment
) -> None:
    one_at_a_time = deployer_settings.model_copy(update={"max_concurrent_deploys": 1})
    async with run_deployer(one_at_a_time):
        busy = await deployment.start(deployment.spec(health={"kind": "running", "seconds": 60}))
        async with deployment.journal(busy.id) as busy_journal:
            await busy_journal.wait_for(
                lambda e: e.step is HEALTH and e.status is STARTED, "health"
            )
            queued = await deployment.start(deployment.spec(name="other"))  # waits for a slot
            cancelled = await deployment.cancel(queued.id, who="bob")
            assert (cancelled.state, cancelled.step) == (DeployState.CANCELLED, DeployStep.DONE)
            async with deployment.journal(queued.id) as journal:
                end = await journal.ended(timeout=5)  # while the only slot is still taken
            await deployment.cancel(busy.id, who="bob")
            assert (await busy_journal.ended()).state is DeployState.CANCELLED
        # The slot is free: the queued deploy's message comes first, is found cancelled
        # and dropped; the service's lock was let go, so it deploys again at once.
        again, _ = await deployment.run(deployment.spec(name="other"))
        never_ran = await deployment.record(queued.id)

    assert (end.state, end.message) == (DeployState.CANCELLED, "cancelled by bob while queued")
    assert again.state is DeployState.SUCCEEDED, again.reason
    assert (never_ran.state, never_ran.worker) == (DeployState.CANCELLED, None)
    assert containers(deployment.prefix) == [again.spec.name]


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


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stopped_deployer_exits_0_and_prints_no_traceback(
    deployer_settings: DeployerSettings, deployment: Deployment, stop: signal.Signals
) -> None:
    process = deployer_process(deployer_settings, stderr=subprocess.PIPE)
    try:
        await _until_host_is_served(deployment)
        # The scenario, not synchronisation: a replica that has idled through a few of
        # its work-queue fetches, each expiring unanswered (what held up its drain).
        await asyncio.sleep(3 * _FETCH_WAIT_S + 0.5)
        process.send_signal(stop)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    said = stderr.decode()
    assert process.returncode == 0, said
    assert "Traceback" not in said, said
    assert not [line for line in said.splitlines() if line.startswith("ERROR")], said


async def _until_host_is_served(deployment: Deployment) -> None:
    """Until a deployer (the process, starting) answers that it serves the test host."""
    async with asyncio.timeout(20):
        while True:
            try:
                served = await ctl.call(
                    deployment.bus,
                    Deploy.HOSTS,
                    ListDeployHosts(),
                    1.0,
                    token=deployment.tokens["alice"],
                )
                if TEST_HOST in served.hosts:
                    return
            except BusUnavailable:
                pass
            await asyncio.sleep(0.1)
