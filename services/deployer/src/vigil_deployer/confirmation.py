"""Asking a user first (seed 003's question pattern): the user who started a deploy
whether to switch, the user who asked for a destructive action whether to do it.

The question goes through the gateways on `ask.user.{principal}`: the gateway holding
that user's newest socket asks with a one-time `requestId` and relays the answer. While
the user has no socket open nobody answers, so the question is put again every few
seconds until the deadline. `{"confirm": true}` is a yes; any other answer is a no.
"""

import asyncio
import time
from typing import Any

from vigil import ctl
from vigil.access import Principal
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import AskClient, ClientAnswered, DeployRecord, ErrorCode
from vigil_deployer.errors import Declined

_ASK_AGAIN_S = 2.0
_RELAY_MARGIN_S = 2.0


async def ask_to_switch(
    bus: Bus, record: DeployRecord, timeout_s: float, *, stops_first: bool = False
) -> str:
    """Return who said yes; raise `Declined` on a no or when the time is up.
    `stops_first`: a yes stops the old container before the new one starts (recreate),
    which the question says."""
    spec, who = record.spec, record.requested_by
    text = f"Switch {spec.name} on {spec.host} to {spec.image}?"
    if stops_first:
        text += f" ({spec.name} stops on a yes; then the new container starts and is checked)"
    data = {
        "deploy_id": record.id,
        "name": spec.name,
        "host": spec.host,
        "image": spec.image,
        "answer": {"confirm": "true to switch, false to roll back"},
    }
    await ask_user(bus, who.token, who.name, "confirm_deploy", text, data, timeout_s, "the switch")
    return who.name


async def ask_to_act(
    bus: Bus,
    caller: Principal,
    text: str,
    data: dict[str, Any],
    timeout_s: float,
    what: str,
    alert: str | None,
) -> None:
    """Ask `caller` whether to do an action (`confirm_action`): the question `text`, with
    `data`; one an alert proposed says so and names the alert (`data.alert`)."""
    if alert is not None:
        text = f"Alert {alert} proposes it: {text}"
        data = data | {"alert": alert}
    await ask_user(bus, caller.token, caller.name, "confirm_action", text, data, timeout_s, what)


async def ask_user(
    bus: Bus,
    principal: str,
    name: str,
    kind: str,
    text: str,
    data: dict[str, Any],
    timeout_s: float,
    what: str,
) -> None:
    """Put the question `text` (`kind`, with `data`) to the user `principal`
    (`Principal.token`, called `name`) about `what` until they answer or `timeout_s` is
    up; return on a yes, raise `Declined` on a no or at the deadline."""
    deadline = time.monotonic() + timeout_s
    subject = bus.subjects.ask_user(principal)
    while (left := deadline - time.monotonic()) > 0.05:
        question = AskClient(kind=kind, question=text, data=data, timeout_s=left)
        started = time.monotonic()
        try:
            answer = await ctl.request(
                bus, subject, question, ClientAnswered, timeout_s=left + _RELAY_MARGIN_S
            )
        except ctl.Refused as exc:
            if exc.code is ErrorCode.TIMEOUT:
                break
            raise Declined(
                f"the question could not be asked: {exc.message}", timed_out=False
            ) from None
        except BusUnavailable:  # no socket of the user open anywhere (yet)
            waited = time.monotonic() - started
            await asyncio.sleep(max(0.0, min(_ASK_AGAIN_S - waited, deadline - time.monotonic())))
            continue
        if answer.data.get("confirm") is True:
            return
        raise Declined(f"{name} declined {what}", timed_out=False)
    raise Declined(f"no confirmation from {name} within {timeout_s:g} s", timed_out=True)
