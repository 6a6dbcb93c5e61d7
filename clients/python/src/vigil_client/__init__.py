"""vigil_client: an async client of Vigil's gateway.

- `client`        `VigilClient`: subscriptions over one connection that survive reconnects
- `subscription`  one subscription: cursor, deduplication, the events a caller reads
- `websocket`, `sse`, `polling`  the three transports; `transport` what they share
- `backoff`       reconnect delays (2, 5, 10, 30 s, jittered)
- `credentials`, `session`  API keys and tokens; refreshing them
- `api`           the HTTP routes (health, login, deploys, users, API keys, log pages);
                  `routes` their paths
- `shell`         an interactive shell in a container (`open_shell`) or a pod's
                  (`open_pod_shell`)
- `frames`        server frames parsed into `vigil.messages` models
- `errors`        what the client raises
"""

from vigil_client.api import Api, login, reach
from vigil_client.backoff import Backoff
from vigil_client.client import ConnectionState, VigilClient
from vigil_client.credentials import ApiKey, Credentials, Tokens
from vigil_client.errors import (
    AuthenticationFailed,
    ClientError,
    ConnectionRefused,
    Refused,
    SessionEnded,
    Unreachable,
)
from vigil_client.shell import Shell, open_pod_shell, open_shell
from vigil_client.subscription import Event, Subscription
from vigil_client.transport import TransportKind

__all__ = [
    "Api",
    "ApiKey",
    "AuthenticationFailed",
    "Backoff",
    "ClientError",
    "ConnectionRefused",
    "ConnectionState",
    "Credentials",
    "Event",
    "Refused",
    "SessionEnded",
    "Shell",
    "Subscription",
    "Tokens",
    "TransportKind",
    "Unreachable",
    "VigilClient",
    "login",
    "open_pod_shell",
    "open_shell",
    "reach",
]
