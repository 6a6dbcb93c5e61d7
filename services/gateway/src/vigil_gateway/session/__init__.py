"""One client's socket, from its handshake to its close.

- `admission`   whether a handshake gets a socket: origin, the gateway's limits, credentials
- `connection`  the client protocol of one socket (`/ws`, a seed endpoint, or SSE)
- `subscriptions`  the channels of one socket: admitted, joined, left, limited
- `registry`    the live connections of this replica, by id and by principal
"""
