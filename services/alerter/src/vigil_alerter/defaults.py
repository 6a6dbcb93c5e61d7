"""The default rules: the host thresholds every Vigil starts with (CPU, memory and disk
over 90 % for 30 s, as the collector raised them itself before rules existed).

They are seeded into `ALERT_RULES` once, on the first start of any replica, and are
then rules like any other: an operator who edits or deletes one keeps the change. Each
has a fixed id, so replicas starting together write each once (a create of a key that
exists is refused), and a marker key (`SEEDED`), written once they are all in, says
they were seeded: a later start (of any replica) seeds nothing, even when an operator
deleted them all.
"""

import contextlib
import json
import logging
from datetime import datetime

import nats.js.errors
from nats.js.kv import KeyValue

from vigil.errors import RevisionConflict
from vigil.messages import HostTarget, Metric, MetricCondition, Rule, Severity, utc_now
from vigil.records import Records

log = logging.getLogger(__name__)

SEEDED = "defaults-seeded"  # a key of ALERT_RULES that is no rule (`Records(other=...)`)
BY = "vigil"  # who made them, as a rule says it
THRESHOLD_PERCENT = 90.0
HOLD_S = 30.0  # raised after 30 s over, resolved after 30 s under: the collector's hold


def default_rules(now: datetime) -> list[Rule]:
    """The default host rules, made at `now`."""
    made = [
        ("defa017000000001", "host CPU", Metric.CPU_PERCENT),
        ("defa017000000002", "host memory", Metric.MEMORY_PERCENT),
        ("defa017000000003", "host disk", Metric.DISK_PERCENT),
    ]
    return [
        Rule(
            id=rule_id,
            name=name,
            target=HostTarget(),
            condition=MetricCondition(metric=metric, threshold=THRESHOLD_PERCENT),
            severity=Severity.WARNING,
            hold_s=HOLD_S,
            recovery_s=HOLD_S,
            created_by=BY,
            created_at=now,
        )
        for rule_id, name, metric in made
    ]


async def seed(rules: Records[Rule], bucket: KeyValue) -> list[Rule]:
    """Write the default rules unless they were seeded before; the rules written."""
    if await _seeded(bucket):
        return []
    written = []
    now = utc_now()
    for rule in default_rules(now):
        try:
            await rules.create(rule.id, rule)
        except RevisionConflict:  # another replica, starting too, wrote it
            continue
        written.append(rule)
    marker = json.dumps({"rules": [r.id for r in default_rules(now)], "time": now.isoformat()})
    with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):  # another said it
        await bucket.create(SEEDED, marker.encode())
    if written:
        log.info("seeded the default rules: %s", ", ".join(r.name for r in written))
    return written


async def _seeded(bucket: KeyValue) -> bool:
    try:
        await bucket.get(SEEDED)
    except nats.js.errors.KeyNotFoundError:
        return False
    return True
