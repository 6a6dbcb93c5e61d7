"""The REST routes fuzzed from the gateway's own OpenAPI spec (schemathesis, run as its
CLI against the whole stack: a real gateway on uvicorn, auth, the collector with
Docker, the deployer, the notifier, the history, the alerter): no input makes a route
fail with a 5xx.

The streaming routes (`/sse/...`) are left out: a fuzzed request there is a stream
that does not end; and so is logout, which would end the fuzzer's own session.
"""

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from tests.alerter_support import alerter_settings_for, run_alerter
from tests.docker_support import DockerStack
from tests.history_support import history_settings_for, run_history
from tests.notify_support import notifier_settings_for, run_notifier
from tests.support import NatsServer
from vigil_deployer.app import DeployerService

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES_PER_ROUTE = 25
ACTIONS = "/actions$"
ALERTS = "^/api/alerts/"
"""The action and alert routes, each fuzzed in a run of their own: their bodies take
long to generate, and one run of every route would take minutes."""


@pytest.mark.timeout(180)  # a bounded run (25 examples a route) that grows with the routes
@pytest.mark.parametrize(
    ("paths", "at_least"),
    [
        (["--exclude-path-regex", f"{ACTIONS}|{ALERTS}"], 1000),
        (["--include-path-regex", ACTIONS], 100),
        (["--include-path-regex", ALERTS], 100),
    ],
    ids=["routes", "actions", "alerts"],
)
async def test_no_rest_route_answers_5xx_to_fuzzed_input(
    paths: list[str],
    at_least: int,
    docker_stack: DockerStack,
    deployer: DeployerService,
    admin_token: str,
    tmp_path: Path,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    notifier = run_notifier(notifier_settings_for(nats_server, prefix))
    history = run_history(history_settings_for(nats_server, prefix))
    alerter = run_alerter(alerter_settings_for(nats_server, prefix))
    async with notifier, history, alerter, docker_stack.up(max_handshakes_per_s=10_000) as address:
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS),
            "run",
            f"http://{address}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {admin_token}",
            *paths,
            "--exclude-path-regex",
            "^/sse/",
            "--exclude-path",
            "/api/auth/logout",  # it would end the session the fuzzing runs in
            "--max-examples",
            str(EXAMPLES_PER_ROUTE),
            "--request-timeout",
            "20",
            "--workers",
            "1",
            "--seed",
            "1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},
        )
        output, _ = await asyncio.wait_for(process.communicate(), 300)
    report = output.decode(errors="replace")
    print(report[-3000:])
    assert process.returncode == 0, report[-6000:]
    cases = re.search(r"(\d+) generated, \1 passed", report)
    assert cases, "every generated case should pass"
    assert int(cases[1]) >= at_least
