"""The rules indexed by target, so each sample meets only its own rules.

Matching a target against every rule costs one pass over the rules; the index does it
once per target and keeps the answer until the rules or the target's identity (its
name, labels, owner) change. A sample of 100 containers then costs, per container, a
dictionary look-up and the rules that concern it — not 1,000 glob matches.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil.messages import (
    ContainerTarget,
    GatewayTarget,
    HostTarget,
    LogCondition,
    PodTarget,
    Rule,
    StatusCondition,
)
from vigil.patterns import compile_glob, glob_matches
from vigil_alerter.targets import ContainerFacts, PodFacts


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    hosts: object  # a compiled glob (hosts, clusters for pods, replicas for gateways)
    name: object | None = None  # container name, or pod namespace
    workload: object | None = None


def _compile(rule: Rule) -> _Compiled:
    target = rule.target
    if isinstance(target, HostTarget):
        return _Compiled(rule, compile_glob(target.hosts))
    if isinstance(target, GatewayTarget):
        return _Compiled(rule, compile_glob(target.replicas))
    if isinstance(target, ContainerTarget):
        name = compile_glob(target.name) if target.name is not None else None
        return _Compiled(rule, compile_glob(target.hosts), name)
    namespace = compile_glob(target.namespace) if target.namespace is not None else None
    workload = None
    if target.workload is not None:
        workload = compile_glob(target.workload.rpartition("/")[2])
    return _Compiled(rule, compile_glob(target.clusters), namespace, workload)


def _container_matches(compiled: _Compiled, facts: ContainerFacts) -> bool:
    target = compiled.rule.target
    assert isinstance(target, ContainerTarget)
    if not glob_matches(compiled.hosts, facts.host):  # type: ignore[arg-type]
        return False
    if compiled.name is not None and not glob_matches(compiled.name, facts.name):  # type: ignore[arg-type]
        return False
    if target.id is not None and target.id[:12] != facts.id[:12]:
        return False
    if target.label is not None:
        key, equals, wanted = target.label.partition("=")
        if key not in facts.labels or (equals and facts.labels[key] != wanted):
            return False
    return True


def _pod_matches(compiled: _Compiled, facts: PodFacts) -> bool:
    target = compiled.rule.target
    assert isinstance(target, PodTarget)
    if not glob_matches(compiled.hosts, facts.cluster):  # type: ignore[arg-type]
        return False
    if compiled.name is not None and not glob_matches(compiled.name, facts.namespace):  # type: ignore[arg-type]
        return False
    if any(facts.labels.get(key) != wanted for key, wanted in target.selector.items()):
        return False
    if target.workload is not None:
        kind, slash, _ = target.workload.rpartition("/")
        if facts.owner_name is None or (slash and kind != facts.owner_kind):
            return False
        if not glob_matches(compiled.workload, facts.owner_name):  # type: ignore[arg-type]
            return False
    return True


def _named(rules: list[_Compiled], cache: dict[str, list[Rule]], name: str) -> list[Rule]:
    """The rules whose one glob takes in `name` (a host, a gateway replica), kept."""
    found = cache.get(name)
    if found is None:
        found = cache[name] = [c.rule for c in rules if glob_matches(c.hosts, name)]  # type: ignore[arg-type]
    return found


@dataclass
class RuleIndex:
    """The enabled rules by target kind, and for each target seen the rules it meets."""

    hosts: list[_Compiled] = field(default_factory=list)
    containers: list[_Compiled] = field(default_factory=list)
    pods: list[_Compiled] = field(default_factory=list)
    gateways: list[_Compiled] = field(default_factory=list)
    _compiled: dict[str, _Compiled] = field(default_factory=dict)
    _by_host: dict[str, list[Rule]] = field(default_factory=dict)
    _by_gateway: dict[str, list[Rule]] = field(default_factory=dict)
    _by_container: dict[str, tuple[object, list[Rule]]] = field(default_factory=dict)
    _by_pod: dict[str, tuple[object, list[Rule]]] = field(default_factory=dict)
    _timed: dict[str, tuple[list[Rule], list[Rule]]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> "RuleIndex":
        index = cls()
        for rule in rules:
            if not rule.enabled:
                continue
            compiled = index._compiled[rule.id] = _compile(rule)
            match rule.target:
                case HostTarget():
                    index.hosts.append(compiled)
                case ContainerTarget():
                    index.containers.append(compiled)
                case PodTarget():
                    index.pods.append(compiled)
                case GatewayTarget():
                    index.gateways.append(compiled)
        return index

    def covers(self, rule: Rule, source: str) -> bool:
        """Whether `rule`'s hosts (or clusters) glob takes in `source`."""
        compiled = self._compiled.get(rule.id)
        return compiled is not None and glob_matches(compiled.hosts, source)  # type: ignore[arg-type]

    def for_host(self, host: str) -> list[Rule]:
        return _named(self.hosts, self._by_host, host)

    def for_gateway(self, replica: str) -> list[Rule]:
        return _named(self.gateways, self._by_gateway, replica)

    def for_container(self, facts: ContainerFacts) -> list[Rule]:
        identity = facts.identity()
        cached = self._by_container.get(facts.key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        found = [c.rule for c in self.containers if _container_matches(c, facts)]
        self._by_container[facts.key] = (identity, found)
        return found

    def for_pod(self, facts: PodFacts) -> list[Rule]:
        identity = facts.identity()
        cached = self._by_pod.get(facts.key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        found = [c.rule for c in self.pods if _pod_matches(c, facts)]
        self._by_pod[facts.key] = (identity, found)
        return found

    def timed(self, facts: ContainerFacts | PodFacts) -> list[Rule]:
        """The rules of a container or pod that time alone may change (status and log
        conditions): those `tick` looks at, not every rule of the target."""
        rules = (
            self.for_container(facts) if isinstance(facts, ContainerFacts) else self.for_pod(facts)
        )
        cached = self._timed.get(facts.key)
        if cached is not None and cached[0] is rules:
            return cached[1]
        timed = [r for r in rules if isinstance(r.condition, StatusCondition | LogCondition)]
        self._timed[facts.key] = (rules, timed)
        return timed

    def forget(self, key: str) -> None:
        """A container or pod gone: its cached rules with it."""
        self._by_container.pop(key, None)
        self._by_pod.pop(key, None)
        self._timed.pop(key, None)
