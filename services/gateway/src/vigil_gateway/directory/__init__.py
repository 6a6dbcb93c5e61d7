"""What exists out there, as the collectors, the deployer and the other replicas say.

- `containers`    the Docker containers collectors announced, by id or name
- `clusters`      the Kubernetes clusters, namespaces and pods; `pod_selector` which pods
  a selector picks
- `latest`        following subjects from the newest value of each, then live
- `hosts`         whether a host has ever reported
- `existence`     whether a deploy a `deploy` channel names exists and may be watched
- `leases`        log leases held while a logs feed has watchers (Docker, Kubernetes)
- `roster`        every socket on every replica (`ctl.gateway.connections`)
"""
