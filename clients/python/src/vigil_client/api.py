"""The gateway's HTTP routes: login, deploys, actions on containers and workloads, users
and API keys, scroll-back of a container's log, metrics history, polling a channel.

Every call carries the session's credentials; an access token the gateway refuses
(401) is refreshed once and the call made again. Refusals raise `Refused` with the
gateway's error code and message (`detail`), network failures `Unreachable`.
"""

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import httpx
from pydantic import ValidationError

from vigil.messages import (
    AcknowledgeAlert,
    AlertChanged,
    AlertList,
    ApiKeyCreated,
    ApiKeyDraft,
    ApiKeyList,
    ApiKeyView,
    BulkContainerActed,
    BulkContainerAction,
    ConfirmProposal,
    ContainerActed,
    ContainerActionAsked,
    DeleteRule,
    DeleteSilence,
    DeployList,
    DeployRecord,
    DeploySpec,
    DisableUser,
    ErrorCode,
    HistorySeries,
    LogAround,
    LogHit,
    LogHits,
    LogPage,
    ProposalConfirmed,
    RevokeApiKey,
    Rule,
    RuleDraft,
    RuleList,
    Silence,
    SilenceDraft,
    SilenceList,
    TokensIssued,
    UserAccess,
    UserDraft,
    UserList,
    UserView,
    WorkloadActed,
    WorkloadActionAsked,
)
from vigil.model import Message
from vigil_client import routes
from vigil_client.errors import AuthenticationFailed, Refused, Unreachable
from vigil_client.session import Session

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ACTION_TIMEOUT = httpx.Timeout(70.0, connect=5.0)
"""An action may wait for its user's yes (30 s) and then for the engine."""
PROPOSAL_TIMEOUT = httpx.Timeout(80.0, connect=5.0)
"""A proposal confirmed waits for the action it carries out (`ACTION_TIMEOUT`)."""
M = TypeVar("M", bound=Message)


async def reach(base_url: str) -> None:
    """That a gateway answers at `base_url` (`GET /healthz`, no credentials needed), e.g.
    before asking someone for a password; `Unreachable` says what answered instead."""
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT) as http:
        try:
            answer = await http.get(routes.HEALTH)
        except httpx.HTTPError as exc:
            raise Unreachable(base_url, str(exc) or type(exc).__name__) from None
    if answer.status_code != 200:
        reason = f"GET {routes.HEALTH} answered HTTP {answer.status_code}: is it a Vigil gateway?"
        raise Unreachable(base_url, reason)


async def login(base_url: str, username: str, password: str) -> TokensIssued:
    """Tokens for a username and password (`POST /api/auth/token`)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT) as http:
        try:
            answer = await http.post(
                routes.LOGIN, json={"username": username, "password": password}
            )
        except httpx.HTTPError as exc:
            raise Unreachable(base_url, str(exc) or type(exc).__name__) from None
    if answer.status_code == 401:
        raise AuthenticationFailed("wrong username or password")
    _raise_for(answer)
    return TokensIssued.model_validate_json(answer.content)


def refusal(answer: httpx.Response) -> Refused:
    """The gateway's refusal as an exception: its `detail` code and message."""
    code: str = str(answer.status_code)
    message = answer.reason_phrase or "refused"
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, dict):
        code, message = str(detail.get("code", code)), str(detail.get("message", message))
    elif isinstance(detail, list) and detail:  # FastAPI's validation errors
        first = detail[0]
        where = ".".join(str(part) for part in first.get("loc", [])[1:]) or "request"
        code, message = ErrorCode.INVALID_MESSAGE, f"{where}: {first.get('msg', 'invalid')}"
    if answer.status_code == 401 or code == ErrorCode.INVALID_CREDENTIALS:
        return AuthenticationFailed(message)
    return Refused(code, message, retry_after_s=_retry_after(answer))


def _retry_after(answer: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (the gateway sends seconds, never a date)."""
    try:
        return float(answer.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _raise_for(answer: httpx.Response) -> None:
    if answer.status_code >= 400:
        raise refusal(answer)


class Api:
    """HTTP calls with the session's credentials (refreshed once on a 401)."""

    def __init__(self, session: Session, http: httpx.AsyncClient) -> None:
        self.session = session
        self.http = http

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        waiting: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """The answer (any status below 400, e.g. 304), or raise the refusal; `waiting`
        for a call that may take longer than most (an action asked first)."""
        for attempt in (1, 2):
            used = self.session.credentials
            try:
                answer = await self.http.request(
                    method,
                    self.session.base_url + path,
                    json=json,
                    params=params,
                    headers=self.session.headers() | (headers or {}),
                    timeout=waiting or self.http.timeout,
                )
            except httpx.HTTPError as exc:
                raise Unreachable(self.session.base_url, str(exc) or type(exc).__name__) from None
            if answer.status_code == 401 and attempt == 1 and self.session.refreshable:
                await self.session.refresh(self.http, stale=used)
                continue
            _raise_for(answer)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_json(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return (await self.send("GET", path, params=clean)).json()

    async def me(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self.get_json(routes.ME)
        return answer

    async def create_deploy(self, spec: DeploySpec) -> DeployRecord:
        body = spec.model_dump(mode="json", exclude_none=True)
        answer = await self.send("POST", routes.DEPLOYS, json=body)
        return _parsed(DeployRecord, answer)

    async def deploy(self, deploy_id: str) -> DeployRecord:
        return _parsed(DeployRecord, await self.send("GET", routes.deploy(deploy_id)))

    async def cancel_deploy(self, deploy_id: str) -> DeployRecord:
        return _parsed(DeployRecord, await self.send("POST", routes.cancel_deploy(deploy_id)))

    async def deploys(self, **filters: Any) -> DeployList:
        clean = {k: v for k, v in filters.items() if v is not None}
        return _parsed(DeployList, await self.send("GET", routes.DEPLOYS, params=clean))

    async def deploy_hosts(self) -> list[str]:
        hosts: list[str] = (await self.get_json(routes.DEPLOY_HOSTS))["hosts"]
        return hosts

    async def container_action(
        self, host: str, container: str, action: str, **options: Any
    ) -> ContainerActed:
        """`action` (start, stop, restart, kill, pause, unpause, remove) on a container of
        `host`, with its `options` (`signal`, `timeout_s`, `volumes`, `force`). Kill and
        remove are asked first on this user's socket: `outcome` says `declined` when
        the answer was no (or none came)."""
        body = ContainerActionAsked.model_validate({"action": action, **options})
        answer = await self.send(
            "POST",
            routes.container_actions(host, container),
            json=body.model_dump(mode="json", exclude_none=True),
            waiting=ACTION_TIMEOUT,
        )
        return _parsed(ContainerActed, answer)

    async def bulk_container_action(
        self, containers: list[tuple[str, str]], action: str, **options: Any
    ) -> BulkContainerActed:
        """`action` on each (host, container), side by side: a result per container."""
        refs = [{"host": host, "container": container} for host, container in containers]
        body = BulkContainerAction.model_validate({"action": action, "containers": refs, **options})
        answer = await self.send(
            "POST",
            routes.CONTAINER_ACTIONS,
            json=body.model_dump(mode="json", exclude_none=True),
            waiting=ACTION_TIMEOUT,
        )
        return _parsed(BulkContainerActed, answer)

    async def workload_action(
        self,
        cluster: str,
        namespace: str,
        kind: str,
        name: str,
        action: str,
        replicas: int | None = None,
    ) -> WorkloadActed:
        """Delete a pod (asked first), `rollout-restart` a deployment or statefulset, or
        `scale` one to `replicas`."""
        body = WorkloadActionAsked.model_validate({"action": action, "replicas": replicas})
        answer = await self.send(
            "POST",
            routes.workload_actions(cluster, namespace, kind, name),
            json=body.model_dump(mode="json", exclude_none=True),
            waiting=ACTION_TIMEOUT,
        )
        return _parsed(WorkloadActed, answer)

    async def log_page(
        self,
        container: str,
        *,
        host: str | None = None,
        before: datetime | None = None,
        limit: int = 100,
    ) -> LogPage:
        """Scroll-back (seed 002's pages): up to `limit` (1 to 1000) lines of a container
        from before `before` (an aware time; None: its newest lines), oldest first, read
        from its engine, and the `next_before` of the page before them (None at the
        log's start)."""
        params: dict[str, Any] = {"limit": limit}
        if host is not None:
            params["host"] = host
        if before is not None:
            params["before"] = before.isoformat()
        answer = await self.get_json(routes.container_logs(container), **params)
        return LogPage.model_validate(
            {"lines": answer["lines"], "next_before": answer["next_before"]}
        )

    async def history(
        self,
        kind: str,
        *,
        since: timedelta | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        step_s: int | None = None,
        series: Sequence[str] | None = None,
        **names: str,
    ) -> HistorySeries:
        """`kind`'s metrics over a range (`since` back from now, `start` and `end`, or
        the last hour), a point per `step_s`, of `series` (all by default): `kind` is
        `host` (`host=`), `container` (`host=`, `container=` an id or a name),
        `containers` (`host=`), `pod` (`cluster=`, `namespace=`, `pod=`) or `node`
        (`cluster=`, `node=`)."""
        params: dict[str, Any] = {"step_s": step_s}
        if series is not None:
            params["series"] = ",".join(series)
        if since is not None:
            params["since"] = f"{max(1, round(since.total_seconds()))}s"
        for name, moment in (("start", start), ("end", end)):
            if moment is not None:
                params[name] = moment.isoformat()
        clean = {k: v for k, v in params.items() if v is not None}
        answer = await self.send("GET", routes.history(kind, **names), params=clean)
        return _parsed(HistorySeries, answer)

    async def search_logs(
        self,
        pattern: str,
        *,
        literal: bool = False,
        ignore_case: bool = False,
        level: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        order: Literal["newest", "oldest"] = "newest",
        limit: int = 100,
        **where: str,
    ) -> AsyncGenerator[LogHits]:
        """The pages of a search of the kept logs, as the gateway answers each (a page
        may be short, even empty, before the last): lines matching `pattern` (RE2;
        `literal`: plain text) of `level` or worse (info, warn...) in `[since, until)`,
        `order` first, `limit` per page, `where` `host=` (and `container=`), or
        `cluster=` (and `namespace=`, `pod=`), or a merged view's selectors (`label=`,
        `name=`, `selector=`, `workload=`), or every source the user may see."""
        params: dict[str, Any] = {
            "pattern": pattern,
            "literal": literal,
            "ignore_case": ignore_case,
            "order": order,
            "limit": limit,
            **where,
        }
        if level is not None:
            params["level"] = level
        for name, moment in (("since", since), ("until", until)):
            if moment is not None:
                params[name] = moment.isoformat()
        while True:
            page = _parsed(LogHits, await self.send("GET", routes.LOG_SEARCH, params=params))
            yield page
            if page.cursor is None:
                return
            params["cursor"] = page.cursor

    async def lines_around(
        self, hit: LogHit, *, before: int = 20, after: int = 20, **where: str
    ) -> LogAround:
        """The lines around `hit` (a search's) in its source, `before` and `after` it,
        oldest first; `where` as the search that found it."""
        params = {"at": hit.at, "before": before, "after": after, **where}
        return _parsed(LogAround, await self.send("GET", routes.LOG_AROUND, params=params))

    # -- users and API keys: the admin role's routes -------------------------------------

    async def users(self) -> UserList:
        return _parsed(UserList, await self.send("GET", routes.USERS))

    async def create_user(self, user: UserDraft) -> UserView:
        body = user.model_dump(mode="json")
        return _parsed(UserView, await self.send("POST", routes.USERS, json=body))

    async def disable_user(self, username: str) -> UserView:
        """Disable a user; the gateway closes their sockets. A username that cannot
        exist raises `ValidationError` before anything is sent."""
        _check_field(DisableUser, "username", username)
        return _parsed(UserView, await self.send("POST", routes.disable_user(username)))

    async def update_user(self, username: str, access: UserAccess) -> UserView:
        """Replace the roles, clusters or permissions `access` gives (a narrowing ends the
        user's sessions). A username that cannot exist raises `ValidationError` first."""
        _check_field(DisableUser, "username", username)
        body = access.model_dump(mode="json", exclude_none=True)
        return _parsed(UserView, await self.send("PATCH", routes.user(username), json=body))

    async def api_keys(self) -> ApiKeyList:
        return _parsed(ApiKeyList, await self.send("GET", routes.API_KEYS))

    async def create_api_key(self, key: ApiKeyDraft) -> ApiKeyCreated:
        """A new key; `api_key` of the answer is its secret, which no later call shows."""
        body = key.model_dump(mode="json", exclude_none=True)
        return _parsed(ApiKeyCreated, await self.send("POST", routes.API_KEYS, json=body))

    async def revoke_api_key(self, key_id: str) -> ApiKeyView:
        """Revoke a key; the gateway closes its sockets. An id that cannot exist raises
        `ValidationError` before anything is sent."""
        _check_field(RevokeApiKey, "key_id", key_id)
        return _parsed(ApiKeyView, await self.send("DELETE", routes.api_key(key_id)))

    # -- alerts: the book, acknowledgements, silences, rules --------------------------

    async def alerts(self, *, active: bool = True, limit: int = 500) -> AlertList:
        """Each alert's latest transition and acknowledgement, newest first."""
        params = {"active": str(active).lower(), "limit": limit}
        return _parsed(AlertList, await self.send("GET", routes.ALERTS, params=params))

    async def acknowledge_alert(self, alert_id: str, note: str = "") -> AlertChanged:
        """Acknowledge a raised alert (an operator): the transition as published."""
        body = AcknowledgeAlert(alert_id=alert_id, note=note).model_dump(mode="json")
        return _parsed(AlertChanged, await self.send("POST", routes.ALERT_ACK, json=body))

    async def confirm_proposal(self, alert_id: str) -> ProposalConfirmed:
        """Carry out what a raised alert proposes (an operator): the deployer asks this
        user first on their socket (answer it with `on_ask`), then acts, once; `outcome`
        says `declined` when the answer was no (or none came)."""
        body = ConfirmProposal(alert_id=alert_id).model_dump(mode="json")
        answer = await self.send("POST", routes.ALERT_PROPOSAL, json=body, waiting=PROPOSAL_TIMEOUT)
        return _parsed(ProposalConfirmed, answer)

    async def silences(self) -> SilenceList:
        return _parsed(SilenceList, await self.send("GET", routes.SILENCES))

    async def create_silence(self, silence: SilenceDraft) -> Silence:
        """A silence, or a maintenance window (`maintenance=True`), made by an operator."""
        body = silence.model_dump(mode="json", exclude_none=True)
        return _parsed(Silence, await self.send("POST", routes.SILENCES, json=body))

    async def delete_silence(self, silence_id: str) -> Silence:
        _check_field(DeleteSilence, "silence_id", silence_id)
        return _parsed(Silence, await self.send("DELETE", routes.silence(silence_id)))

    async def alert_rules(self) -> RuleList:
        return _parsed(RuleList, await self.send("GET", routes.ALERT_RULES))

    async def create_alert_rule(self, rule: RuleDraft) -> Rule:
        body = rule.model_dump(mode="json", exclude_none=True)
        return _parsed(Rule, await self.send("POST", routes.ALERT_RULES, json=body))

    async def delete_alert_rule(self, rule_id: str) -> Rule:
        _check_field(DeleteRule, "rule_id", rule_id)
        return _parsed(Rule, await self.send("DELETE", routes.alert_rule(rule_id)))


def _check_field(model: type[Message], field: str, value: object) -> None:
    """Validate one field of the request the gateway will build from a path parameter,
    by that request's own rule (`ValidationError` located at `field`)."""
    model.__pydantic_validator__.validate_assignment(model.model_construct(), field, value)


def _parsed(model: type[M], answer: httpx.Response) -> M:
    try:
        return model.model_validate_json(answer.content)
    except ValidationError as exc:
        raise Refused("INVALID_MESSAGE", f"unexpected answer: {exc.errors()[0]['msg']}") from None
