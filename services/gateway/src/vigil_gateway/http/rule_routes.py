"""`/api/alerts/rules`: alert rules, read by viewers, written by operators.

Each route is one `ctl.call` to the alerter with the caller's token: the alerter checks
the role again itself. A bad rule is refused 422 naming the field and what is wrong
(`condition.metric: container targets carry ...`), by its model here and again there.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from vigil.access import Principal, Role
from vigil.messages import CreateRule, DeleteRule, ListRules, Rule, RuleDraft, RuleList
from vigil.operations import Rules
from vigil_gateway.http.http_auth import BusToken, RoleRequired
from vigil_gateway.http.service_calls import call_service, from_path
from vigil_gateway.http.strict_json import StrictJsonRoute

Viewer = Annotated[Principal, Depends(RoleRequired(Role.VIEWER))]
Operator = Annotated[Principal, Depends(RoleRequired(Role.OPERATOR))]


def rule_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.post("/api/alerts/rules", status_code=status.HTTP_201_CREATED)
    async def create(
        rule: RuleDraft, operator: Operator, token: BusToken, request: Request
    ) -> Rule:
        """A new rule: a target, a condition, its hold, recovery, cooldown and severity."""
        return await call_service(request, Rules.CREATE, CreateRule(rule=rule), token)

    @router.get("/api/alerts/rules")
    async def list_rules(viewer: Viewer, token: BusToken, request: Request) -> RuleList:
        """Every rule, oldest first."""
        return await call_service(request, Rules.LIST, ListRules(), token)

    @router.delete("/api/alerts/rules/{rule_id}")
    async def delete(rule_id: str, operator: Operator, token: BusToken, request: Request) -> Rule:
        """The rule removed; its raised alerts are resolved."""
        message = from_path(DeleteRule, {"rule_id": rule_id})
        return await call_service(request, Rules.DELETE, message, token)

    return router
