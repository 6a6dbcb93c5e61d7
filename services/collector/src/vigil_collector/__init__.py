"""Vigil collector: reads the world and publishes it on NATS.

- `app`          the service: the host's sampling loop, and the Docker and Kubernetes
                 sources it starts; `__main__` builds it from the environment
- `settings`     its configuration (`VIGIL_COLLECTOR_...`)
- `errors`       its exceptions
- `handoff`      a bounded hand-off from a worker thread to the event loop
- `host/`        one machine, read with psutil
- `docker/`      a Docker engine: status, stats (from cgroups or the API), logs on lease
- `kubernetes/`  Kubernetes clusters, one replica each: pod status, alerts, metrics, logs
- `logs/`        what the Docker and the pod log followers share: leases, batches,
                 redaction, line stamps

Imports go down: `app` uses the packages; `docker/` and `kubernetes/` use `logs/` and
the shared modules, never each other, `app` or `host/`; `logs/` uses `handoff` alone.
"""
