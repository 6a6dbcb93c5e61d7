"""The AsyncAPI document of the services' bus handlers, made from their subscribers.

Every operation of `vigil.operations` that a service answers through FastStream
(`vigil.broker`: auth, the deployer, the notifier) is registered here as the service
registers it, on a broker that only describes (no bus), one per service, and FastStream writes the
document: subjects, queue groups, request schemas, and in each description whom the
request acts for; the replies (`CtlReply` envelopes of each operation's reply model),
which FastStream does not describe, are added from the same table.
`tests/test_bus_doc.py` checks that each service's own `serve` registers exactly these
subscribers, and that the published copy is current.

`python -m vigil.bus_doc` prints it; it is kept as `vigil/asyncapi.json` (beside this
module, for the gateway to serve at `/docs/asyncapi.json`), which `docs/asyncapi.json`
links to.
"""

import json
from typing import Any

from faststream.specification import AsyncAPI

from vigil.access import Principal
from vigil.broker import ServiceBroker, answer, answer_for_users
from vigil.messages import CtlFailure
from vigil.model import Message
from vigil.operations import (
    Actions,
    Alerts,
    Auth,
    Deploy,
    History,
    Notify,
    Operation,
    Rules,
    Shells,
)
from vigil.settings import VigilSettings

TITLE = "Vigil's bus: the services' request/reply operations"
DESCRIPTIONS = {
    "auth": "The auth service: users, API keys, sessions and signing keys.",
    "deploy": "The deployer: deploys to Docker hosts and Kubernetes clusters.",
    "history": "The history service: metrics over a time range, from its roll-up tiers.",
    "notify": "The notifier: notification channels (admins) and their dead letters.",
    "rules": "The alerter: alert rules (viewers read, operators write).",
    "alerts": "The alerter: the alert book, acknowledgements, silences and maintenance windows.",
}
_GROUPS: dict[str, tuple[type, ...]] = {
    "auth": (Auth,),
    "deploy": (Deploy, Actions, Shells),  # actions, shells: each replica for its own host
    "history": (History,),
    "notify": (Notify,),
    "rules": (Rules,),
    "alerts": (Alerts,),
}
_SCHEMAS = "#/components/schemas/"


def brokers(settings: VigilSettings | None = None) -> dict[str, ServiceBroker]:
    """A describing broker per service, each operation of its group registered."""
    settings = settings or VigilSettings.model_construct()  # the defaults, not the environment
    made = {}
    for service, groups in _GROUPS.items():
        broker = ServiceBroker(None, settings, description=DESCRIPTIONS[service])
        for operation in operations(*groups):
            if operation.role is None:
                answer(broker, operation, _never)
            else:
                answer_for_users(broker, operation, _never_for_users, NoVerifier())
        made[service] = broker
    return made


def operations(*groups: type) -> list[Operation[Any, Any]]:
    return [
        value for group in groups for value in vars(group).values() if isinstance(value, Operation)
    ]


def render(settings: VigilSettings | None = None) -> str:
    """The document, as JSON (keys sorted: FastStream orders channels by no rule)."""
    spec = AsyncAPI(*brokers(settings).values(), title=TITLE, version="1")
    document = with_replies(spec.to_specification().to_jsonable())
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def with_replies(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with each operation's reply, which FastStream leaves out: a `CtlReply`
    whose `data` is the operation's reply model, on the caller's inbox (the request's
    reply subject, so a channel with no fixed address)."""
    components = document["components"]
    for groups in _GROUPS.values():
        for operation in operations(*groups):
            name = f"ctl.{operation.service}.{operation.name}"
            reply = f"{name}:Reply"
            _add(components["schemas"], _schemas(operation.reply))
            components["messages"][reply] = {"title": reply, "payload": _envelope(operation)}
            document["channels"][reply] = {
                "address": None,
                "description": f"The inbox a {name} request names as its reply subject.",
                "messages": {"Reply": {"$ref": f"#/components/messages/{reply}"}},
            }
            document["operations"][name]["reply"] = {
                "channel": {"$ref": f"#/channels/{reply}"},
                "messages": [{"$ref": f"#/channels/{reply}/messages/Reply"}],
            }
    _add(components["schemas"], _schemas(CtlFailure))
    return document


def _envelope(operation: Operation[Any, Any]) -> dict[str, Any]:
    def either(model: type[Message]) -> dict[str, Any]:
        return {"anyOf": [{"$ref": f"{_SCHEMAS}{model.__name__}"}, {"type": "null"}]}

    return {
        "title": f"CtlReply of {operation.reply.__name__}",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ok": {"type": "boolean"},
            "data": either(operation.reply),
            "error": either(CtlFailure),
        },
        "required": ["ok"],
    }


def _schemas(model: type[Message]) -> dict[str, Any]:
    """`model`'s JSON schema and those of the models it holds, by name."""
    schema = _asyncapi(model.model_json_schema(ref_template=_SCHEMAS + "{model}"))
    held: dict[str, Any] = schema.pop("$defs", {})
    return {**held, model.__name__: schema}


def _asyncapi(schema: Any) -> Any:
    """A JSON schema as AsyncAPI's Schema Object has it (as FastStream writes those of
    the requests): a discriminator is the name of its property."""
    if isinstance(schema, list):
        return [_asyncapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _asyncapi(value) for key, value in schema.items()}
    if isinstance(converted.get("discriminator"), dict):
        converted["discriminator"] = converted["discriminator"]["propertyName"]
    return converted


def _add(schemas: dict[str, Any], more: dict[str, Any]) -> None:
    """Those of `more` that `schemas` lacks (a model's schema is the same wherever)."""
    for name, schema in more.items():
        schemas.setdefault(name, schema)


async def _never(request: Message) -> Message:
    raise RuntimeError("a describing broker answers nothing")


async def _never_for_users(request: Message, caller: Principal) -> Message:
    raise RuntimeError("a describing broker answers nothing")


class NoVerifier:
    """The verifier of a broker that only describes: it is never asked."""

    async def verify(self, token: str) -> Principal:
        raise RuntimeError("a describing broker verifies nothing")


if __name__ == "__main__":
    print(render(), end="")
