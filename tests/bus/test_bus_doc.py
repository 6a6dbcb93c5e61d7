"""docs/asyncapi.json is the bus the services serve: regenerated from the subscribers,
each service's own `serve` registers exactly those, and the gateway serves it."""

import json
from pathlib import Path
from typing import Any

import httpx
from faststream.specification import AsyncAPI

from vigil.broker import ServiceBroker
from vigil.bus_doc import NoVerifier, brokers, render
from vigil.settings import VigilSettings
from vigil_alerter import handlers as alerter_handlers
from vigil_alerter import lifecycle as alerter_lifecycle
from vigil_alerter.proposals import Proposals
from vigil_auth import handlers as auth_handlers
from vigil_auth.settings import AuthSettings
from vigil_deployer import handlers as deployer_handlers
from vigil_deployer.actions import ContainerActions, WorkloadActions
from vigil_deployer.pod_shells import PodShells
from vigil_deployer.rollbacks import Rollbacks
from vigil_deployer.shells import ContainerShells
from vigil_gateway.app import build_app
from vigil_gateway.settings import GatewaySettings
from vigil_history import app as history_app
from vigil_history.log_search import LogSearch
from vigil_history.query import Query
from vigil_notifier import handlers as notifier_handlers

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def channels(broker: ServiceBroker) -> Any:
    return AsyncAPI(broker).to_specification().to_jsonable()["channels"]


def test_the_asyncapi_document_matches_the_subscribers() -> None:
    assert DOCUMENT.read_text() == render(), (
        "docs/asyncapi.json is stale: run `uv run --all-packages python -m vigil.bus_doc "
        "> libs/vigil/src/vigil/asyncapi.json` (docs/asyncapi.json links to it)"
    )


def test_each_service_serves_the_subscribers_the_document_describes() -> None:
    settings = VigilSettings.model_construct()
    described = brokers(settings)

    auth = ServiceBroker(None, settings, description="auth")
    handlers = auth_handlers.Handlers.__new__(auth_handlers.Handlers)  # never called
    auth_handlers.serve(auth, handlers, NoVerifier(), AuthSettings.model_construct())
    assert channels(auth) == channels(described["auth"])

    deployer = ServiceBroker(None, settings, description="deploy")
    deploys = deployer_handlers.Handlers.__new__(deployer_handlers.Handlers)
    deployer_handlers.serve(
        deployer,
        deploys,
        NoVerifier(),
        containers=ContainerActions.__new__(ContainerActions),
        workloads=WorkloadActions.__new__(WorkloadActions),
        rollbacks=Rollbacks.__new__(Rollbacks),
        shells=ContainerShells.__new__(ContainerShells),
        pod_shells=PodShells.__new__(PodShells),
    )
    assert channels(deployer) == channels(described["deploy"])

    history = ServiceBroker(None, settings, description="history")
    history_app.serve(history, Query.__new__(Query), LogSearch.__new__(LogSearch))
    assert channels(history) == channels(described["history"])
    notifier = ServiceBroker(None, settings, description="notify")
    notifications = notifier_handlers.Handlers.__new__(notifier_handlers.Handlers)
    notifier_handlers.serve(notifier, notifications, NoVerifier())
    assert channels(notifier) == channels(described["notify"])

    alerter = ServiceBroker(None, settings, description="rules")
    rules = alerter_handlers.Handlers.__new__(alerter_handlers.Handlers)
    alerter_handlers.serve(alerter, rules, NoVerifier())
    assert channels(alerter) == channels(described["rules"])

    alerts = ServiceBroker(None, settings, description="alerts")
    alerter_lifecycle.serve(
        alerts,
        alerter_lifecycle.Lifecycle.__new__(alerter_lifecycle.Lifecycle),
        Proposals.__new__(Proposals),
        NoVerifier(),
    )
    assert channels(alerts) == channels(described["alerts"])


async def test_the_gateway_serves_the_document_next_to_docs(
    gateway_settings: GatewaySettings,
) -> None:
    app = build_app(gateway_settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.get("/docs/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(DOCUMENT.read_text())
