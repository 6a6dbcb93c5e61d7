"""Where a client's credentials are, on a WebSocket handshake or an HTTP request.

Tokens: `?token=`, `Authorization: Bearer`, or (browsers cannot set headers) the
`Sec-WebSocket-Protocol` header as `bearer.<token>` beside the protocol `vigil`,
which the gateway then echoes. API keys: `?api_key=`, `X-API-Key`, or as the bearer
token (what Prometheus and most tools can send), told apart by their `vk_` prefix.
"""

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from vigil.access import API_KEY_PREFIX

APP_PROTOCOL = "vigil"
BEARER_PROTOCOL_PREFIX = "bearer."


@dataclass(frozen=True)
class Credentials:
    token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    subprotocol: str | None = None  # the WebSocket subprotocol to echo on accept

    @property
    def present(self) -> bool:
        return bool(self.token or self.api_key)


def read_credentials(connection: HTTPConnection) -> Credentials:
    headers, query = connection.headers, connection.query_params
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    bearer_protocol = next((p for p in offered if p.startswith(BEARER_PROTOCOL_PREFIX)), None)

    scheme, _, value = headers.get("authorization", "").partition(" ")
    header_token = value.strip() if scheme.lower() == "bearer" else None
    bearer_key = None
    if header_token is not None and header_token.startswith(API_KEY_PREFIX):
        bearer_key, header_token = header_token, None
    protocol_token = bearer_protocol[len(BEARER_PROTOCOL_PREFIX) :] if bearer_protocol else None

    if APP_PROTOCOL in offered:
        subprotocol: str | None = APP_PROTOCOL
    else:
        subprotocol = bearer_protocol
    return Credentials(
        token=query.get("token") or header_token or protocol_token or None,
        api_key=query.get("api_key") or headers.get("x-api-key") or bearer_key or None,
        subprotocol=subprotocol,
    )
