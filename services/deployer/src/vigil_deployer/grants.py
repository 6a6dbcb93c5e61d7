"""Who may act where: a user's grants name the Kubernetes clusters and the Docker hosts
(a host id is granted as a cluster's name is; `*` covers every one). Reading a Docker
host's containers needs no grant; changing anything needs the grant of where it is:
an action on a container or a workload, a deploy, its cancel and its rollback."""

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.ctl import Refused
from vigil.messages import ErrorCode


def check_grant(
    trail: AuditTrail, caller: Principal, action: str, where: str, kind: str, target: str
) -> None:
    """Refuse FORBIDDEN, audited as `action` on `target`, unless `caller`'s grants cover
    `where` (the `kind` of place it is: "host" or "cluster")."""
    if not caller.may_see_cluster(where):
        reason = f"{caller.name} has no grant for {kind} {where!r}"
        trail.refused(action, caller, reason, target=target)
        raise Refused(ErrorCode.FORBIDDEN, reason)
