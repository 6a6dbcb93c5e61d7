"""What a rule's raised alert proposes about its target: a container to restart (or its
service's last deploy to roll back), a pod's workload to scale (carried out only once
an operator confirms it: `proposals`)."""

import secrets

from vigil.messages import ProposedAction, Rule
from vigil_alerter.targets import ContainerFacts, PodFacts

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
