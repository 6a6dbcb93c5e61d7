"""The gateway over HTTP: its routes, its listener and the pages it serves.

The package's name is the stdlib's too: every import in Vigil is absolute, so
`import http` anywhere still means the stdlib, and this package is always
`vigil_gateway.http`.

- `endpoints`      every stream three ways: WebSocket, `sse`, polling (`queries` parses
  the query)
- `auth_routes`, `audit_routes`, `deploy_routes`, `docker_routes`, `k8s_routes`,
  `notify_routes`, `rule_routes`, `alert_routes`  the REST routes (`service_calls`: a
  route that is one request to a service, and its refusal as HTTP)
- `http_auth`      credentials on HTTP routes, as FastAPI dependencies
- `serving`        uvicorn, and draining on SIGTERM; `http_protocol` its listener with
  bounded request heads
- `body_limit`, `strict_json`, `invalid_input`  request bodies bounded, parsed strictly,
  and refused with a clear 422
- `scrape`         the collected figures for Prometheus (`/api/metrics`), in the
  exporters' names
- `dashboard`      the built web dashboard, served at `/`
- `protocol_doc`   the client protocol as one page (`docs/protocol.md`)
"""
