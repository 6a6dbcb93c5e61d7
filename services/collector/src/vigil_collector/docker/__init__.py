"""A Docker engine, read through its API (docker-py) and the host's cgroup files.

- `source`              the whole: follows the engine through its outages, publishes its
                        status and its containers' stats and statuses, serves log leases
                        and pages
- `engine`              the docker-py client; every failure to reach the engine is
                        `DockerUnavailable`
- `container_events`    `docker events`, read in a thread, as container statuses
- `running_containers`  which containers run, kept by the events
- `stats_readers`       which stats reader an engine gets: `cgroup_stats` (over `cgroups`
                        and `cgroup_counters`) or the API's `container_stats`; both make
                        `stats_batch`'s messages
- `followers`           logs on lease: a `log_reader` thread per leased container
- `log_pages`           scroll-back: older lines of a container, on request

Imports are absolute, so `import docker` in here is still docker-py.
"""
