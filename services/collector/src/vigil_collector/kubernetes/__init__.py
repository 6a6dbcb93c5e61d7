"""Kubernetes clusters, read through their API (the `kubernetes` client), each followed by
one collector replica at a time. Imported only when a cluster is configured (`app`).

- `source`            a lease loop per cluster (`vigil.leases`: a revision-checked record
                      in K8S_CLUSTERS) that runs a `cluster_follower` while it holds it
- `kube`              which clusters, their API clients, quantities
- `cluster_follower`  one cluster: `resource_watch` (pods and events: list, then watch),
                      `pod_status`, `pod_alerts`, `pod_metrics`, logs on lease (`pod_logs`,
                      `pod_log_reader`), the retained pods' logs always
                      (`kept_pod_logs`) and scroll-back (`pod_log_pages`)

Imports are absolute, so `import kubernetes` in here is still the client.
"""
