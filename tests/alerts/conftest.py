"""The alerter of a test (on the session's NATS, the test's prefix) and an HTTP client
of the test's gateway."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.alerter_support import alerter_settings_for, run_alerter
from tests.support import NatsServer
from vigil_alerter.app import AlerterService


@pytest.fixture
async def alerter(nats_server: NatsServer, prefix: str) -> AsyncIterator[AlerterService]:
    async with run_alerter(alerter_settings_for(nats_server, prefix)) as service:
        yield service


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=30) as client:
        yield client
