"""The socket under a connection: what is written to it, when, and what waits when it lags.

- `wire`     the WebSocket wire: frames built once, written directly, no task per socket
- `outbox`   what one socket is sent: at once, or through its backlog when it lags
- `backlog`  a slow socket's bounded queue, shaped by channel kind
- `flusher`  one write per socket per loop turn
- `timers`   a connection's heartbeat and the expiry of its credentials

Nothing here knows channels, principals or the bus; it imports only `metrics` and
`settings` from outside.
"""
