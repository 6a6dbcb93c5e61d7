"""Questions for clients (`ctl ask`): put to one socket of this replica, or to a user's
newest socket, and the client's answer relayed to the asker.

Every replica hears every question; only the one that holds the socket answers, so
the others stay silent. A question the client leaves unanswered is refused with
`TIMEOUT` after its own timeout.
"""

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from pydantic import ValidationError

from vigil import ctl
from vigil.bus import Bus
from vigil.messages import AskClient, ClientAnswered, ErrorCode
from vigil_gateway.session.connection import Connection
from vigil_gateway.session.registry import Registry

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class Questions:
    def __init__(self, bus: Bus, connections: Registry, spawn: Spawn) -> None:
        self._bus = bus
        self._connections = connections
        self._spawn = spawn

    async def on_ask(self, msg: Msg) -> None:
        """A question for one of our sockets (by connection) or users (their newest
        socket); other replicas stay silent, so the one that holds it answers."""
        target = msg.subject.rsplit(".", 1)[-1]
        if msg.subject == self._bus.subjects.ask(target):
            found = self._connections.get(target)
            candidates = [found] if found is not None else []
        else:
            candidates = self._connections.of(target)
        if not candidates or not msg.reply:
            return
        try:
            question = AskClient.model_validate_json(msg.data)
        except ValidationError as exc:
            await msg.respond(ctl.refused(ErrorCode.INVALID_MESSAGE, str(exc)[:200]))
            return
        newest = max(candidates, key=lambda c: c.started_at)
        self._spawn(_relay(newest, question, msg))


async def _relay(connection: Connection, question: AskClient, msg: Msg) -> None:
    try:
        data = await connection.ask(question)
        reply = ctl.answered(ClientAnswered(connection_id=connection.id, data=data))
    except TimeoutError:
        reply = ctl.refused(
            ErrorCode.TIMEOUT, f"the client did not answer within {question.timeout_s:g} s"
        )
    with contextlib.suppress(nats.errors.Error):  # the asker may be gone
        await msg.respond(reply)
