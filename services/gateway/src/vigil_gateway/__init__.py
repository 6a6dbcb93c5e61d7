"""Vigil gateway: the one service that holds client connections.

- `settings`    its configuration (`VIGIL_GATEWAY_...`)
- `outbox`      each connection's bounded queue of frames, by channel kind
- `views`       how bus messages become client frames, per channel
- `hub`         one JetStream feed per channel, shared by every client of this replica
- `handshake`   who is connecting, decided before the socket is accepted
- `connection`  the protocol of `/ws` and `/api/system/ws`
- `app`         the FastAPI application: routes, lifespan, health
"""
