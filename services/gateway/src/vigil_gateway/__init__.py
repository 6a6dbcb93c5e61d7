"""Vigil gateway: the one service that holds client connections.

The folders are the architecture, from the socket up; a package imports only those
above it in this list (and `settings`, `errors`, `metrics`):

- `transport/`  the socket: wire, outbox, backlog, flusher, timers
- `filters/`    log filters, client patterns on RE2, filtered views per principal
- `access/`     credentials, principals, permissions, rate limits, audit
- `delivery/`   one shared feed per channel and the ways a subscriber joins it
- `directory/`  what exists: containers, clusters, hosts, deploys, leases, the roster
- `merged/`     merged log views over many containers and pods
- `session/`    one client's socket, from its handshake to its close
- `replica/`    what every socket of one replica shares (`Gateway`, the composition
  root), its sessions, questions for clients, its samples of itself
- `http/`       the routes, SSE, polling, serving, the dashboard, the protocol doc

And beside them:

- `settings`    its configuration (`VIGIL_GATEWAY_...`)
- `errors`      the gateway's errors
- `metrics`     its figures for Prometheus
- `app`         the FastAPI application: the `Gateway`, the routes, lifespan, health
"""
