"""Vigil gateway: the one service that holds client connections.

- `settings`    its configuration (`VIGIL_GATEWAY_...`)
- `wire`        the socket under a connection: frames built once, written directly
- `outbox`      what one socket is sent: at once, or through its backlog when it lags
- `backlog`     a slow socket's bounded queue, shaped by channel kind
- `flusher`     one write per socket per loop turn
- `throttle`    a subscriber's own pace on state channels
- `deltas`      numbered state values, and the snapshot and delta frames made of them
- `views`       how bus messages become client frames, per channel
- `hub`         one JetStream feed per channel, shared by every client of this replica
- `replay`      a resuming feed, read at its socket's pace
- `merged`      a merged log view of the containers a selector picks; `reorder` its window
- `log_filters` text, regex and level filters of log channels; `patterns` client
  patterns on RE2 (linear time); `filter_quota` filtered views per principal
- `admission`   who is connecting, decided before the socket is accepted
- `connection`  the protocol of one socket; `timers` its heartbeat and expiry
- `options`     what a subscriber asks beside the channel: resume, pace, deltas
- `leases`      log leases held while a logs feed has watchers (Docker, Kubernetes)
- `containers`  the Docker containers collectors announced; `clusters` the Kubernetes
  clusters, namespaces and pods; both follow the newest of each subject (`latest`)
- `k8s_routes`  `/api/k8s/clusters` and `/api/k8s/{cluster}/pods`
- `endpoints`   every stream three ways: WebSocket, `sse`, `polling` (`queries`)
- `dashboard`   the built web dashboard, served at `/` when `web_dir` is set
- `app`         the FastAPI application: routes, lifespan, health
"""
