"""One handler per operation of `vigil.operations.Rules`: viewers read the rules,
operators write them. Any replica answers any of them (one queue group); each request's
token is verified and its role checked before a handler runs
(`vigil.broker.answer_for_users`). A bad rule never reaches a handler: its model
(`RuleDraft`) refuses it, naming the field."""

import secrets

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.broker import ServiceBroker, answer_for_users
from vigil.ctl import Refused
from vigil.messages import (
    MAX_RULES,
    AuditOutcome,
    CreateRule,
    DeleteRule,
    ErrorCode,
    ListRules,
    LogCondition,
    Rule,
    RuleList,
    utc_now,
)
from vigil.operations import Rules
from vigil.records import Records
from vigil.tokens import Verifier
from vigil_alerter.patterns import InvalidPattern, compile_regex

CREATE, DELETE = "rules.create", "rules.delete"


def serve(broker: ServiceBroker, handlers: "Handlers", verifier: Verifier) -> None:
    """Every operation of `Rules` as a subscriber of `broker`."""
    answer_for_users(broker, Rules.CREATE, handlers.create, verifier)
    answer_for_users(broker, Rules.LIST, handlers.list_rules, verifier)
    answer_for_users(broker, Rules.DELETE, handlers.delete, verifier)


class Handlers:
    def __init__(self, rules: Records[Rule], trail: AuditTrail) -> None:
        self._rules = rules
        self._trail = trail

    async def create(self, request: CreateRule, caller: Principal) -> Rule:
        condition = request.rule.condition
        if isinstance(condition, LogCondition):
            try:
                compile_regex(condition.pattern)
            except InvalidPattern as exc:
                reason = f"rule.condition.pattern: {exc}"
                self._trail.refused(CREATE, caller, reason, target=request.rule.name)
                raise Refused(ErrorCode.INVALID_MESSAGE, reason) from None
        if len(await self._rules.all()) >= MAX_RULES:
            raise Refused(ErrorCode.LIMIT_REACHED, f"at most {MAX_RULES} rules")
        rule = Rule(
            **request.rule.model_dump(),
            id=secrets.token_hex(8),
            created_by=caller.name,
            created_at=utc_now(),
        )
        await self._rules.create(rule.id, rule)
        target = f"rule {rule.id} ({rule.name})"
        self._trail.record(CREATE, AuditOutcome.DONE, caller, target=target)
        return rule

    async def list_rules(self, request: ListRules, caller: Principal) -> RuleList:
        rules = sorted(
            (found.value for found in await self._rules.all()), key=lambda r: r.created_at
        )
        return RuleList(rules=rules)

    async def delete(self, request: DeleteRule, caller: Principal) -> Rule:
        found = await self._rules.get(request.rule_id)
        if found is None:
            raise Refused(ErrorCode.NOT_FOUND, f"no rule {request.rule_id!r}")
        await self._rules.delete(request.rule_id)
        target = f"rule {request.rule_id} ({found.value.name})"
        self._trail.record(DELETE, AuditOutcome.DONE, caller, target=target)
        return found.value
