"""Which pods a merged log view shows: a label selector and/or a workload, narrowed to
a namespace and a cluster when given.

`selector` is Kubernetes' equality-based label selector: comma-separated terms, all of
which must hold — `key=value` (or `key==value`), `key!=value` (also true without the
key, as in Kubernetes), `key` (has it), `!key` (has it not). `workload` is
`deployment/web`, `statefulset/db` or `daemonset/agent`: the pods whose owner the
collector found to be that workload. The channel's validation (`vigil.names`) has
checked their form already; this only reads them.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from vigil.messages import PodStatusChanged

_KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet"}


@dataclass(frozen=True)
class LabelTerm:
    key: str
    value: str | None  # None: only whether the key is there
    equal: bool  # `=`/`==`/`key`; False for `!=`/`!key`

    @classmethod
    def parse(cls, term: str) -> "LabelTerm":
        if "!=" in term:
            key, value = term.split("!=", 1)
            return cls(key, value, equal=False)
        if "=" in term:
            key, value = term.split("=", 1)
            return cls(key, value.removeprefix("="), equal=True)
        if term.startswith("!"):
            return cls(term[1:], None, equal=False)
        return cls(term, None, equal=True)

    def holds(self, labels: Mapping[str, str]) -> bool:
        if self.value is None:
            return (self.key in labels) == self.equal
        return (labels.get(self.key) == self.value) == self.equal


@dataclass(frozen=True)
class PodSelector:
    terms: tuple[LabelTerm, ...] = ()
    workload: tuple[str, str] | None = None  # the owner's (kind, name), as the API spells it
    namespace: str | None = None
    cluster: str | None = None

    @classmethod
    def of(cls, params: Mapping[str, str]) -> "PodSelector | None":
        """The selector a `logs.merged` channel's parameters give, or None when they
        select no pods (neither `selector` nor `workload`)."""
        selector, workload = params.get("selector"), params.get("workload")
        if selector is None and workload is None:
            return None
        owner = None
        if workload is not None:
            kind, name = workload.split("/", 1)
            owner = (_KINDS[kind], name)
        return cls(
            terms=tuple(LabelTerm.parse(term) for term in (selector or "").split(",") if term),
            workload=owner,
            namespace=params.get("namespace"),
            cluster=params.get("cluster"),
        )

    def picks(self, status: PodStatusChanged) -> bool:
        if self.cluster is not None and status.cluster != self.cluster:
            return False
        if self.namespace is not None and status.namespace != self.namespace:
            return False
        if self.workload is not None:
            owner = status.owner
            if owner is None or (owner.kind, owner.name) != self.workload:
                return False
        return all(term.holds(status.labels) for term in self.terms)
