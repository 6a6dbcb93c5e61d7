"""The rules evaluated on what the collectors publish: pure logic, the caller passes the
time (epoch seconds), so tests drive it without waiting.

Each (rule, target) has a state: bad since when, clear since when, raised or not, and
when it was last resolved. A condition bad for the rule's `hold_s` raises; clear for
its `recovery_s` resolves; once resolved it is not raised again within `cooldown_s`.
Metric conditions are looked at with each sample; status and stale conditions with each
status change and at every `tick`, since time alone resolves them (a restart loop's
window passes, a container runs long enough, a source speaks again).
"""

import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import re2

from vigil.messages import (
    AlertChanged,
    AlertSource,
    AlertState,
    ContainerState,
    ContainerStats,
    ContainerStatusChanged,
    DockerStatsSampled,
    HostMetricsSampled,
    K8sMetricsSampled,
    LogBatch,
    LogCondition,
    Metric,
    MetricCondition,
    PodStatusChanged,
    PodUsage,
    ProposedAction,
    Rule,
    StaleCondition,
    StatusCondition,
    StatusEvent,
    utc_now,
)
from vigil_alerter.culprits import with_culprits
from vigil_alerter.index import RuleIndex
from vigil_alerter.patterns import InvalidPattern, compile_regex
from vigil_alerter.targets import ContainerFacts, PodFacts, restarts_within


@dataclass(slots=True)
class _State:
    bad_since: float | None = None
    clear_since: float | None = None
    raised: bool = False
    resolved_at: float | None = None


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a target is, for the alert: its host (a cluster's name for a pod), its
    cluster, and what to call it."""

    host: str
    cluster: str | None
    name: str


def _percent(part: float, whole: float | None) -> float | None:
    return part / whole * 100.0 if whole else None


def _host_figure(sample: HostMetricsSampled, metric: Metric) -> float | None:
    match metric:
        case Metric.CPU_PERCENT:
            return sample.cpu.percent
        case Metric.MEMORY_PERCENT:
            return sample.memory.percent
        case Metric.SWAP_PERCENT:
            return sample.swap.percent
        case Metric.DISK_PERCENT:
            return max((fs.percent for fs in sample.filesystems), default=None)
        case Metric.LOAD_1:
            return sample.load.one
    return None


def _container_figure(stats: ContainerStats, metric: Metric) -> float | None:
    match metric:
        case Metric.CPU_PERCENT:
            return stats.cpu_percent
        case Metric.MEMORY_PERCENT:
            return stats.memory_percent
        case Metric.MEMORY_BYTES:
            return float(stats.memory_usage)
        case Metric.MEMORY_OF_LIMIT:
            return _percent(stats.memory_usage, stats.memory_limit)
        case Metric.CPU_OF_LIMIT:  # cpu_percent is 100 per CPU, cpu_limit in CPUs
            return _percent(stats.cpu_percent, stats.cpu_limit * 100.0 if stats.cpu_limit else None)
    return None


def _pod_figure(pod: PodUsage, metric: Metric) -> float | None:
    match metric:
        case Metric.CPU_MILLICORES:
            return pod.cpu_millicores
        case Metric.MEMORY_BYTES:
            return float(pod.memory_bytes)
        case Metric.CPU_OF_LIMIT:
            return _percent(pod.cpu_millicores, pod.cpu_limit_millicores)
        case Metric.MEMORY_OF_LIMIT:
            return _percent(pod.memory_bytes, pod.memory_limit_bytes)
    return None


def _status_holds(facts: ContainerFacts | PodFacts, condition: StatusCondition, now: float) -> bool:
    match condition.event:
        case StatusEvent.EXITED_NONZERO:
            return facts.exited_nonzero
        case StatusEvent.OOM_KILLED:
            return facts.oom_killed
        case StatusEvent.UNHEALTHY:
            return isinstance(facts, ContainerFacts) and facts.unhealthy
        case StatusEvent.CRASH_LOOP:
            return isinstance(facts, PodFacts) and facts.crash_loop
        case StatusEvent.RESTART_LOOP:
            return restarts_within(facts.restarts, condition.window_s, now) >= condition.restarts
    return False


def _status_figure(
    facts: ContainerFacts | PodFacts, condition: StatusCondition, now: float
) -> float:
    if condition.event is StatusEvent.RESTART_LOOP:
        return float(restarts_within(facts.restarts, condition.window_s, now))
    if condition.event is StatusEvent.EXITED_NONZERO and isinstance(facts, ContainerFacts):
        return float(facts.exit_code or 0)
    return 1.0 if _status_holds(facts, condition, now) else 0.0


class Evaluator:
    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        self._index = RuleIndex()
        self._states: dict[tuple[str, str], _State] = {}
        self._where: dict[str, _Where] = {}
        self._containers: dict[str, ContainerFacts] = {}
        self._pods: dict[str, PodFacts] = {}
        self._heard: dict[str, float] = {}  # a source ("host:h", "docker:h", "k8s:c"): when
        self._batches: dict[str, DockerStatsSampled] = {}  # a host's newest: the culprits
        self._patterns: dict[str, re2._Regexp[str]] = {}  # a log rule's, by rule id
        self._log_hits: dict[tuple[str, str], deque[tuple[float, int]]] = {}
        self.set_rules(rules, 0.0)

    @property
    def rules(self) -> dict[str, Rule]:
        return self._rules

    def set_rules(self, rules: Iterable[Rule], now: float) -> list[AlertChanged]:
        """Take a new set of rules; the alerts of rules gone or changed are resolved."""
        new = {rule.id: rule for rule in rules}
        kept = {i for i, rule in new.items() if self._rules.get(i) == rule and rule.enabled}
        changed: list[AlertChanged] = []
        for (rule_id, key), state in list(self._states.items()):
            if rule_id in kept:
                continue
            del self._states[(rule_id, key)]
            if state.raised:
                old = self._rules[rule_id]
                changed.append(self._alert(old, key, AlertState.RESOLVED, 0.0, "rule changed"))
        for state_key in [k for k in self._log_hits if k[0] not in kept]:
            del self._log_hits[state_key]
        self._patterns = {}
        for rule in new.values():
            if isinstance(rule.condition, LogCondition):
                try:
                    self._patterns[rule.id] = compile_regex(rule.condition.pattern)
                except InvalidPattern:  # refused when made; an older rule is left out
                    continue
        self._rules = new
        self._index = RuleIndex.of(
            r
            for r in new.values()
            if r.id in self._patterns or not isinstance(r.condition, LogCondition)
        )
        return changed

    # -- the flow in ------------------------------------------------------------------

    def host_sample(self, sample: HostMetricsSampled, now: float) -> list[AlertChanged]:
        self._heard[f"host:{sample.host}"] = now
        key = f"host:{sample.host}"
        self._where[key] = _Where(sample.host, None, sample.host)
        changed: list[AlertChanged] = []
        for rule in self._index.for_host(sample.host):
            condition = rule.condition
            if isinstance(condition, MetricCondition):
                value = _host_figure(sample, condition.metric)
                if value is not None:
                    self._metric(rule, condition, key, value, now, changed)
        batch = self._batches.get(sample.host)
        return [with_culprits(alert, batch, sample.processes) for alert in changed]

    def docker_sample(self, sample: DockerStatsSampled, now: float) -> list[AlertChanged]:
        self._heard[f"docker:{sample.host}"] = now
        self._batches[sample.host] = sample
        changed: list[AlertChanged] = []
        for stats in sample.containers:
            facts = self._container(sample.host, stats.id, stats.name)
            for rule in self._index.for_container(facts):
                condition = rule.condition
                if isinstance(condition, MetricCondition):
                    value = _container_figure(stats, condition.metric)
                    if value is not None:
                        self._metric(rule, condition, facts.key, value, now, changed)
        return changed

    def container_status(self, status: ContainerStatusChanged, now: float) -> list[AlertChanged]:
        key = f"docker:{status.host}:{status.id}"
        if status.status is ContainerState.REMOVED:
            return self._forget(key)
        facts = self._container(status.host, status.id, status.name)
        facts.observe(status, now)
        changed: list[AlertChanged] = []
        self._status(facts, now, changed)
        return changed

    def k8s_sample(self, sample: K8sMetricsSampled, now: float) -> list[AlertChanged]:
        self._heard[f"k8s:{sample.cluster}"] = now
        changed: list[AlertChanged] = []
        for pod in sample.pods:
            facts = self._pod(sample.cluster, pod.namespace, pod.name)
            for rule in self._index.for_pod(facts):
                condition = rule.condition
                if isinstance(condition, MetricCondition):
                    value = _pod_figure(pod, condition.metric)
                    if value is not None:
                        self._metric(rule, condition, facts.key, value, now, changed)
        return changed

    def pod_status(self, status: PodStatusChanged, now: float) -> list[AlertChanged]:
        key = f"pod:{status.cluster}:{status.namespace}/{status.pod}"
        if status.phase == "Deleted":
            return self._forget(key)
        facts = self._pod(status.cluster, status.namespace, status.pod)
        facts.observe(status, now)
        changed: list[AlertChanged] = []
        self._status(facts, now, changed)
        return changed

    def log_batch(self, batch: LogBatch, now: float) -> list[AlertChanged]:
        """Lines of a followed container: each log rule counts the lines it matches."""
        facts = self._containers.get(f"docker:{batch.host}:{batch.container}")
        if facts is None:
            return []
        changed: list[AlertChanged] = []
        for rule in self._index.for_container(facts):
            condition = rule.condition
            if isinstance(condition, LogCondition):
                pattern = self._patterns[rule.id]
                hits = sum(1 for line in batch.lines if pattern.search(line.text) is not None)
                if hits:
                    self._log_hits.setdefault((rule.id, facts.key), deque()).append((now, hits))
                self._log(rule, condition, facts.key, now, changed)
        return changed

    def followed_logs(self) -> list[tuple[str, str]]:
        """The containers (host, id) whose logs some rule reads: those to follow."""
        return [
            (facts.host, facts.id)
            for facts in self._containers.values()
            if facts.running
            and any(isinstance(r.condition, LogCondition) for r in self._index.for_container(facts))
        ]

    def tick(self, now: float) -> list[AlertChanged]:
        """What time alone changes: status conditions, and sources gone quiet."""
        changed: list[AlertChanged] = []
        for container in self._containers.values():
            self._status(container, now, changed)
        for pod in self._pods.values():
            self._status(pod, now, changed)
        self._stale(now, changed)
        return changed

    def adopt(self, alert: AlertChanged) -> None:
        """A rule's alert raised by the replica that held its source before this one:
        raised here too, so it resolves when its condition clears."""
        _, rule_id, key = alert.id.split(":", 2)
        rule = self._rules.get(rule_id)
        if rule is None or alert.rule != rule_id or (rule_id, key) in self._states:
            return
        self._states[(rule_id, key)] = _State(raised=True)
        if key not in self._where:
            name = key.rsplit(":", 1)[-1] if key.startswith("docker:") else key
            self._where[key] = _Where(alert.host, alert.cluster, name)

    def drop_source(self, source: str) -> None:
        """This replica no longer evaluates `source` (`host:h` or `k8s:c`): forget its
        targets without a word (the replica that takes it over carries on)."""
        kind, _, name = source.partition(":")
        prefixes = (f"host:{name}", f"docker:{name}:") if kind == "host" else (f"pod:{name}:",)
        for key in [k for k in self._where if k.startswith(prefixes)]:
            del self._where[key]
            self._containers.pop(key, None)
            self._pods.pop(key, None)
            self._index.forget(key)
        for state_key in [k for k in self._states if k[1].startswith(prefixes)]:
            del self._states[state_key]
        heard = (f"host:{name}", f"docker:{name}") if kind == "host" else (f"k8s:{name}",)
        for one in heard:
            self._heard.pop(one, None)
        self._batches.pop(name, None)

    # -- conditions -------------------------------------------------------------------

    def _metric(
        self,
        rule: Rule,
        condition: MetricCondition,
        key: str,
        value: float,
        now: float,
        changed: list[AlertChanged],
    ) -> None:
        bad = value < condition.threshold if condition.below else value > condition.threshold
        state = self._step(rule, key, bad, now)
        if state is not None:
            changed.append(self._alert(rule, key, state, value))

    def _status(
        self, facts: ContainerFacts | PodFacts, now: float, out: list[AlertChanged]
    ) -> None:
        for rule in self._index.timed(facts):
            condition = rule.condition
            if isinstance(condition, LogCondition):
                self._log(rule, condition, facts.key, now, out)
            if isinstance(condition, StatusCondition):
                state = self._step(rule, facts.key, _status_holds(facts, condition, now), now)
                if state is not None:
                    value = _status_figure(facts, condition, now)
                    out.append(self._alert(rule, facts.key, state, value))

    def _log(
        self, rule: Rule, condition: LogCondition, key: str, now: float, out: list[AlertChanged]
    ) -> None:
        hits = self._log_hits.get((rule.id, key))
        while hits and now - hits[0][0] > condition.window_s:
            hits.popleft()
        seen = sum(n for _, n in hits) if hits else 0
        if hits is not None and not hits:
            del self._log_hits[(rule.id, key)]
        state = self._step(rule, key, seen >= condition.count, now)
        if state is not None:
            out.append(self._alert(rule, key, state, float(seen)))

    def _stale(self, now: float, out: list[AlertChanged]) -> None:
        for rule in self._rules.values():
            condition = rule.condition
            if not rule.enabled or not isinstance(condition, StaleCondition):
                continue
            kind = rule.target.kind
            for source, heard in self._heard.items():
                source_kind, _, name = source.partition(":")
                if {"host": "host", "docker": "container", "k8s": "pod"}[source_kind] != kind:
                    continue
                if not self._index.covers(rule, name):
                    continue
                key = f"stale:{source}"
                self._where[key] = _Where(name, name if kind == "pod" else None, source)
                silent = now - heard
                state = self._step(rule, key, silent > condition.after_s, now)
                if state is not None:
                    out.append(self._alert(rule, key, state, silent))

    def _step(self, rule: Rule, key: str, bad: bool, now: float) -> AlertState | None:
        state = self._states.get((rule.id, key))
        if state is None:
            if not bad:
                return None  # nothing to remember of a target that is fine
            state = self._states[(rule.id, key)] = _State()
        if bad:
            state.clear_since = None
            if state.bad_since is None:
                state.bad_since = now
            cooling = state.resolved_at is not None and now - state.resolved_at < rule.cooldown_s
            if not state.raised and not cooling and now - state.bad_since >= rule.hold_s:
                state.raised = True
                return AlertState.RAISED
            return None
        state.bad_since = None
        if not state.raised:
            return None
        if state.clear_since is None:
            state.clear_since = now
        if now - state.clear_since >= rule.recovery_s:
            state.raised = False
            state.resolved_at = now
            state.clear_since = None
            return AlertState.RESOLVED
        return None

    # -- targets ------------------------------------------------------------------------

    def _container(self, host: str, container: str, name: str) -> ContainerFacts:
        key = f"docker:{host}:{container}"
        facts = self._containers.get(key)
        if facts is None:
            facts = self._containers[key] = ContainerFacts(host, container, name)
            self._where[key] = _Where(host, None, name)
        return facts

    def _pod(self, cluster: str, namespace: str, name: str) -> PodFacts:
        key = f"pod:{cluster}:{namespace}/{name}"
        facts = self._pods.get(key)
        if facts is None:
            facts = self._pods[key] = PodFacts(cluster, namespace, name)
            self._where[key] = _Where(cluster, cluster, f"{namespace}/{name}")
        return facts

    def _forget(self, key: str) -> list[AlertChanged]:
        """A container or pod gone: its raised alerts resolved, and it forgotten."""
        changed = []
        for state_key in [k for k in self._states if k[1] == key]:
            if self._states.pop(state_key).raised:
                rule = self._rules[state_key[0]]
                changed.append(self._alert(rule, key, AlertState.RESOLVED, 0.0, "it is gone"))
        self._containers.pop(key, None)
        self._pods.pop(key, None)
        self._index.forget(key)
        self._where.pop(key, None)
        for hits_key in [k for k in self._log_hits if k[1] == key]:
            del self._log_hits[hits_key]
        return changed

    def _alert(
        self, rule: Rule, key: str, state: AlertState, value: float, why: str | None = None
    ) -> AlertChanged:
        where = self._where.get(key) or _Where("unknown", None, key)
        condition = rule.condition
        if isinstance(condition, MetricCondition):
            metric, threshold = condition.metric.value, condition.threshold
            side = "under" if condition.below else "over"
            said = f"{metric} of {where.name} is {value:g}, {side} {threshold:g}"
        elif isinstance(condition, StatusCondition):
            metric, threshold = condition.event.value, float(condition.restarts)
            said = f"{where.name}: {metric.replace('_', ' ')}"
            if condition.event is StatusEvent.RESTART_LOOP:
                said += f" ({value:g} restarts within {condition.window_s:g} s)"
        elif isinstance(condition, LogCondition):
            metric, threshold = "log", float(condition.count)
            said = (
                f"{where.name}: {value:g} lines matching {condition.pattern!r} within "
                f"{condition.window_s:g} s"
            )
        else:
            metric, threshold = "stale", condition.after_s
            said = f"{where.name} silent for {value:.0f} s"
        proposal = None
        if state is AlertState.RESOLVED:
            said = f"resolved: {why}" if why else f"resolved: {said}"
        elif rule.propose is not None:
            proposal = proposed(rule, self._containers.get(key) or self._pods.get(key))
            if proposal is not None:
                said += f"; proposed: {proposal.describe()}"
        return AlertChanged(
            id=f"rule:{rule.id}:{key}",
            state=state,
            source=AlertSource.RULE,
            host=where.host,
            cluster=where.cluster,
            metric=metric,
            value=value,
            threshold=threshold,
            time=utc_now(),
            message=f"{rule.name}: {said}",
            rule=rule.id,
            severity=rule.severity.value,
            labels=rule.labels or None,
            proposal=proposal,
        )


TEMPLATE_HASH = "pod-template-hash"


def proposed(rule: Rule, facts: ContainerFacts | PodFacts | None) -> ProposedAction | None:
    """What `rule` proposes about its target `facts`, with a fresh id (one per raising):
    a container to restart (or whose service's last deploy to roll back), or the
    Deployment (the owner of the pod's ReplicaSet, named by the ReplicaSet less its
    `-<pod-template-hash>`) or StatefulSet owning a pod to scale. None when there is
    nothing to act on (a pod of no such workload)."""
    wanted = rule.propose
    if wanted is None or facts is None:
        return None
    proposal_id = secrets.token_hex(8)
    if isinstance(facts, ContainerFacts):
        if wanted.action not in ("restart", "rollback"):
            return None
        return ProposedAction(
            id=proposal_id,
            action=wanted.action,
            host=facts.host,
            container=facts.id,
            name=facts.name,
        )
    if wanted.action != "scale" or facts.owner_name is None:
        return None
    if facts.owner_kind == "StatefulSet":
        kind, name = "statefulset", facts.owner_name
    elif facts.owner_kind == "ReplicaSet" and (template := facts.labels.get(TEMPLATE_HASH)):
        suffix = f"-{template}"
        if not facts.owner_name.endswith(suffix):
            return None
        kind, name = "deployment", facts.owner_name.removesuffix(suffix)
    else:
        return None
    return ProposedAction.model_validate(
        {
            "id": proposal_id,
            "action": "scale",
            "cluster": facts.cluster,
            "namespace": facts.namespace,
            "kind": kind,
            "name": name,
            "replicas": wanted.replicas,
        }
    )
