"""The AsyncAPI document of the services' bus handlers, made from their subscribers.

Every operation of `vigil.operations` that a service answers through FastStream
(`vigil.broker`: auth and the deployer) is registered here as the service registers it,
on a broker that only describes (no bus), one per service, and FastStream writes the
document: subjects, queue groups, request schemas, and in each description the reply
and whom the request acts for. `tests/test_bus_doc.py` checks that each service's own
`serve` registers exactly these subscribers, and that the published copy is current.

`python -m vigil.bus_doc` prints it; it is kept as `vigil/asyncapi.json` (beside this
module, for the gateway to serve at `/docs/asyncapi.json`), which `docs/asyncapi.json`
links to.
"""

import json
from typing import Any

from faststream.specification import AsyncAPI

from vigil.access import Principal
from vigil.broker import ServiceBroker, answer, answer_for_users
from vigil.model import Message
from vigil.operations import Auth, Deploy, Operation
from vigil.settings import VigilSettings

TITLE = "Vigil's bus: the services' request/reply operations"
DESCRIPTIONS = {
    "auth": "The auth service: users, API keys, sessions and signing keys.",
    "deploy": "The deployer: deploys to Docker hosts and Kubernetes clusters.",
}
_GROUPS = {"auth": Auth, "deploy": Deploy}


def brokers(settings: VigilSettings | None = None) -> dict[str, ServiceBroker]:
    """A describing broker per service, each operation of its group registered."""
    settings = settings or VigilSettings.model_construct()  # the defaults, not the environment
    made = {}
    for service, group in _GROUPS.items():
        broker = ServiceBroker(None, settings, description=DESCRIPTIONS[service])
        for operation in operations(group):
            if operation.role is None:
                answer(broker, operation, _never)
            else:
                answer_for_users(broker, operation, _never_for_users, _NoVerifier())
        made[service] = broker
    return made


def operations(group: type) -> list[Operation[Any, Any]]:
    return [value for value in vars(group).values() if isinstance(value, Operation)]


def render(settings: VigilSettings | None = None) -> str:
    """The document, as JSON (keys sorted: FastStream orders channels by no rule)."""
    spec = AsyncAPI(*brokers(settings).values(), title=TITLE, version="1")
    return json.dumps(spec.to_specification().to_jsonable(), indent=2, sort_keys=True) + "\n"


async def _never(request: Message) -> Message:
    raise RuntimeError("a describing broker answers nothing")


async def _never_for_users(request: Message, caller: Principal) -> Message:
    raise RuntimeError("a describing broker answers nothing")


class _NoVerifier:
    async def verify(self, token: str) -> Principal:
        raise RuntimeError("a describing broker verifies nothing")


if __name__ == "__main__":
    print(render(), end="")
