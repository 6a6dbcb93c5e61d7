"""The alerter: alert rules (`ALERT_RULES`) evaluated on the live flow of metrics and
status, raised and resolved as `AlertChanged` on `alerts.rule`.

- `targets`     what a sample or a status says about each host, container and pod
- `index`       the rules indexed by target: each target meets only its own rules
- `evaluation`  hold, recovery and cooldown of each (rule, target): pure, time passed in
- `figures`     the figure a sample gives a metric condition; whether a status holds
- `proposing`   what a raised alert proposes about its target (restart, scale)
- `culprits`    the busiest containers named by a host's CPU or memory alert
- `defaults`    the default host rules, seeded once
- `sources`     which sources (hosts, clusters) this replica evaluates: leases in KV
- `handlers`    `ctl.rules.*`: rules read by viewers, written by operators
- `app`         the service: the bus, the flow in, the alerts out
"""
