"""Who is connecting, decided before a socket is accepted.

Until the auth service lands every client is admitted as `ANONYMOUS`; the check of
tokens and API keys slots in here, closing the handshake with 1008 or 4001.
"""

from dataclasses import dataclass

from starlette.requests import HTTPConnection


@dataclass(frozen=True)
class Principal:
    id: str
    name: str


ANONYMOUS = Principal(id="anonymous", name="anonymous")


async def admit(connection: HTTPConnection) -> Principal:
    """The principal behind a request or WebSocket handshake."""
    return ANONYMOUS
