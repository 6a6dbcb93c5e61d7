"""Vigil collector: reads the world and publishes it on NATS.

- `host`      samples one machine with psutil (CPU, load, memory, filesystems, I/O rates)
- `alerts`    turns samples into threshold alerts, raised and resolved with a hold time
- `docker_source` a Docker engine: status from its events (`container_events`), the running
              set (`running_containers`), stats from the reader `stats_readers` chooses
              (`cgroup_stats` over `cgroups` and `cgroup_counters`, or the API's
              `container_stats`), logs on lease (`followers`, `log_reader`, `log_pages`)
- `k8s_source` Kubernetes clusters, one replica each (`cluster_lease`), followed by a
              `cluster_follower`: `resource_watch`, `pod_status`, `pod_alerts`,
              `pod_metrics`, `pod_logs`, `pod_log_pages`
- `app`       the service: the sampling loop and what it publishes
- `settings`  its configuration (`VIGIL_COLLECTOR_...`)
"""
