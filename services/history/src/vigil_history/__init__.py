"""Vigil history: keeps host metrics, container stats and pod/node metrics in JetStream
in retention tiers, rolls each window up exactly once across its replicas, and answers
range queries over the bus.

- `settings`  the service's settings (the tiers among them)
- `series`    which series each kind of source has, read from the collector's samples
- `rollup`    the pure arithmetic: samples and roll-ups into roll-ups
- `frame`     the compact binary form of one source's roll-ups of one window
- `store`     reading the raw tier and the roll-up tiers over a range
- `frames`    frames already read, kept for the next query
- `roller`    the roll-up loop: claims, exactly-once publishing, watermarks
- `query`     answering a range query from the tiers that cover it
- `app`       the service (`build_app`), its handlers on the bus
"""
