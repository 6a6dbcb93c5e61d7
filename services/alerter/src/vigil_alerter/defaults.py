"""The default rules every Vigil starts with, in sets each seeded once:

- `host`: CPU, memory and disk over 90 % for 30 s (as the collector raised them itself
  before rules existed);
- `gateway`: a replica's sockets over 90 % of its limit, its failed sends over 10 a
  second (as the gateway raised them on itself, `alerts.gateway`, before rules could
  read its samples).

Each set is seeded into `ALERT_RULES` once, on the first start of any replica that
knows it, and its rules are then rules like any other: an operator who edits or deletes
one keeps the change. Each rule has a fixed id, so replicas starting together write
each once (a create of a key that exists is refused), and a marker key per set, written
once its rules are all in, says it was seeded: a later start (of any replica) seeds
nothing of it, even when an operator deleted them all. A set added by a later version
(the gateway's) is seeded at the first start of that version.
"""

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import nats.js.errors
from nats.js.kv import KeyValue

from vigil.errors import RevisionConflict
from vigil.messages import (
    GatewayTarget,
    HostTarget,
    Metric,
    MetricCondition,
    Rule,
    RuleTarget,
    Severity,
    utc_now,
)
from vigil.records import Records

log = logging.getLogger(__name__)

BY = "vigil"  # who made them, as a rule says it
THRESHOLD_PERCENT = 90.0
HOLD_S = 30.0  # raised after 30 s over, resolved after 30 s under: the collector's hold
SOCKETS_PERCENT = 90.0  # the gateway's old VIGIL_GATEWAY_ALERT_SOCKETS_RATIO (0.9)
SEND_FAILURES_PER_S = 10.0  # its old VIGIL_GATEWAY_ALERT_SEND_FAILURES: 50 in a 5 s check
GATEWAY_RECOVERY_S = 30.0  # raised at once, as the gateway did; resolved 30 s clear


@dataclass(frozen=True)
class _Default:
    id: str
    name: str
    target: RuleTarget
    metric: Metric
    threshold: float = THRESHOLD_PERCENT
    hold_s: float = HOLD_S
    recovery_s: float = HOLD_S


SETS: dict[str, tuple[_Default, ...]] = {
    "defaults-seeded": (  # the host set (its marker named before there were others)
        _Default("defa017000000001", "host CPU", HostTarget(), Metric.CPU_PERCENT),
        _Default("defa017000000002", "host memory", HostTarget(), Metric.MEMORY_PERCENT),
        _Default("defa017000000003", "host disk", HostTarget(), Metric.DISK_PERCENT),
    ),
    "defaults-seeded-gateway": (
        _Default(
            "defa017000000004",
            "gateway sockets",
            GatewayTarget(),
            Metric.SOCKETS_PERCENT,
            SOCKETS_PERCENT,
            0,
            GATEWAY_RECOVERY_S,
        ),
        _Default(
            "defa017000000005",
            "gateway send failures",
            GatewayTarget(),
            Metric.SEND_FAILURES_PER_S,
            SEND_FAILURES_PER_S,
            0,
            GATEWAY_RECOVERY_S,
        ),
    ),
}
"""Each set by its marker key."""

MARKERS = frozenset(SETS)
"""Keys of ALERT_RULES that are no rule (`Records(other=...)`)."""


def default_rules(now: datetime, marker: str | None = None) -> list[Rule]:
    """The default rules (of the set `marker`, or all), made at `now`."""
    chosen = SETS.values() if marker is None else [SETS[marker]]
    return [
        Rule(
            id=made.id,
            name=made.name,
            target=made.target,
            condition=MetricCondition(metric=made.metric, threshold=made.threshold),
            severity=Severity.WARNING,
            hold_s=made.hold_s,
            recovery_s=made.recovery_s,
            created_by=BY,
            created_at=now,
        )
        for rules in chosen
        for made in rules
    ]


async def seed(rules: Records[Rule], bucket: KeyValue) -> list[Rule]:
    """Write each set of default rules not seeded before; the rules written."""
    written = []
    now = utc_now()
    for marker in SETS:
        if await _seeded(bucket, marker):
            continue
        for rule in default_rules(now, marker):
            try:
                await rules.create(rule.id, rule)
            except RevisionConflict:  # another replica, starting too, wrote it
                continue
            written.append(rule)
        ids = [r.id for r in default_rules(now, marker)]
        said = json.dumps({"rules": ids, "time": now.isoformat()})
        with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):  # another said it
            await bucket.create(marker, said.encode())
    if written:
        log.info("seeded the default rules: %s", ", ".join(r.name for r in written))
    return written


async def _seeded(bucket: KeyValue, marker: str) -> bool:
    try:
        await bucket.get(marker)
    except nats.js.errors.KeyNotFoundError:
        return False
    return True
