"""`GET /api/logs/search`: one page of the kept lines that match a pattern, newest (or
oldest) first, with a cursor for the next page; searched by the history service
(`ctl.history.search_logs`), never in the gateway.

What is searched: a cluster's pods (`cluster`, and `namespace`, `pod`), one container
(`host` and `container`: a live one's name or id, or the id or name of one removed; by
name, a retained container's kept lines of every generation), a host's containers,
journal and log files (`host` alone), or, with none of these, every container, every
host's journal and log files, and the pods of every cluster the user may see. Or what a
merged view's selectors pick now (`logs.merged`'s own rules and words): containers by
`label` or `name` (a glob; on `host`), pods by `selector` or `workload` (in `namespace`,
on `cluster`), each with its kept lines (a container's every generation; a Deployment's
or DaemonSet's pods gone since, kept under the workload), a host's journal entries
`journal` selects (`unit=docker.service,priority<=warning`) or its log `file`. A
cluster is searched only with its grant: asked by name without it, 403 (and the refusal
audited); left out, it is not searched. A host's journal and files are searched by
whoever may watch them (`host.journal`, `host.file`: reading a host needs no grant, as
reading its containers does not).

`GET /api/logs/around`: the lines around a hit (its `at`), in its own source, asked
with the same sources as the search (`ctl.history.log_lines_around`).
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from vigil.access import Principal
from vigil.durations import is_duration, parse_duration
from vigil.log_levels import LevelName, level_named
from vigil.messages import (
    ErrorCode,
    LinesAround,
    LogAround,
    LogHits,
    LogSourceRef,
    SearchLogs,
    utc_now,
)
from vigil.messages.log_search import CURSOR, MAX_AROUND, MAX_SOURCES
from vigil.names import NameKind, is_name
from vigil.operations import History
from vigil_gateway.delivery import channel_admission
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.http.http_auth import authenticated, check_cluster_grant, refusal, refused
from vigil_gateway.http.service_calls import call_service, from_path
from vigil_gateway.http.strict_json import StrictJsonRoute
from vigil_gateway.merged.sources import LogSource
from vigil_gateway.merged.view import CHANNEL as MERGED
from vigil_gateway.replica.gateway import Gateway

# What a host keeps: its containers' logs, its journal and its log files.
_HOSTS_SOURCES: tuple[Literal["docker", "journal", "file"], ...] = ("docker", "journal", "file")
Anyone = Annotated[Principal, Depends(authenticated)]
Name = Annotated[str | None, Query(max_length=253)]
Moment = Annotated[
    str | None, Query(max_length=40, description="back from now (2h, 30m) or RFC 3339")
]


async def searched(
    request: Request,
    principal: Anyone,
    host: Name = None,
    container: Name = None,
    cluster: Name = None,
    namespace: Name = None,
    pod: Name = None,
    label: Name = None,
    name: Name = None,
    selector: Name = None,
    workload: Name = None,
    journal: Name = None,
    file: Name = None,
) -> list[LogSourceRef]:
    """The sources a search (or the lines around a hit) reads, within the user's grants
    (none: the selectors pick nothing now)."""
    gateway: Gateway = request.app.state.gateway
    if cluster is not None:
        check_cluster_grant(request, principal, cluster)
    picking = {
        "label": label,
        "name": name,
        "selector": selector,
        "workload": workload,
        "journal": journal,
        "file": file,
    }
    if any(value is not None for value in picking.values()):
        if container is not None or pod is not None:
            raise refusal(ErrorCode.INVALID_MESSAGE, "a container or pod, or selectors: not both")
        narrowing = {"host": host, "namespace": namespace, "cluster": cluster}
        given = {k: v for k, v in (picking | narrowing).items() if v is not None}
        return await _picked(gateway, principal, given)
    if cluster is not None:
        if host is not None or container is not None:
            raise refusal(ErrorCode.INVALID_MESSAGE, "a cluster's pods or a host's containers")
        return [_source(kind="k8s", cluster=cluster, namespace=namespace, pod=pod)]
    if namespace is not None or pod is not None:
        raise refusal(ErrorCode.INVALID_MESSAGE, "namespace and pod are a cluster's")
    if container is not None:
        return await _container(gateway, host, container)
    if host is not None:
        return [_source(kind=kind, host=host) for kind in _HOSTS_SOURCES]
    seen = [c for c in await gateway.clusters.clusters() if principal.may_see_cluster(c)]
    every = [LogSourceRef(kind=kind) for kind in _HOSTS_SOURCES]
    return every + [LogSourceRef(kind="k8s", cluster=c) for c in seen]


Sources = Annotated[list[LogSourceRef], Depends(searched)]


def log_search_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.get("/api/logs/search", response_model=LogHits)
    async def search(
        request: Request,
        sources: Sources,
        pattern: Annotated[str, Query(max_length=1000, description="RE2 syntax")],
        literal: bool = False,
        ignore_case: bool = False,
        level: Annotated[
            str | None, Query(max_length=20, description="this level or worse: info, warn...")
        ] = None,
        since: Moment = None,
        until: Moment = None,
        order: Literal["newest", "oldest"] = "newest",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Response:
        """Lines of the kept logs that match `pattern` (plain text with `literal`), of
        `level` or worse (a line's first level word), in the range `[since, until)`;
        ask again with the answer's `cursor` for the next page, until it has none. A
        page may be short (even empty) and still have a cursor: one page reads a bounded
        share of the logs."""
        if not sources:  # the selectors pick nothing now
            return Response(
                LogHits(hits=[], scanned_lines=0).model_dump_json(), media_type="application/json"
            )
        asked = from_path(
            SearchLogs,
            {
                "sources": sources,
                "pattern": pattern,
                "literal": literal,
                "ignore_case": ignore_case,
                "level": _level(level),
                "since": _moment("since", since),
                "until": _moment("until", until),
                "order": order,
                "limit": limit,
                "cursor": cursor,
            },
        )
        answer: LogHits = await call_service(request, History.SEARCH_LOGS, asked)
        return Response(answer.model_dump_json(), media_type="application/json")

    @router.get("/api/logs/around", response_model=LogAround)
    async def around(
        request: Request,
        sources: Sources,
        at: Annotated[str, Query(pattern=CURSOR, description="a hit's `at`")],
        before: Annotated[int, Query(ge=0, le=MAX_AROUND)] = 20,
        after: Annotated[int, Query(ge=0, le=MAX_AROUND)] = 20,
    ) -> Response:
        """The lines around a hit of a search (`at`, the hit's), `before` and `after`
        it in its source, oldest first; asked with the search's own `host`, `container`,
        `cluster`, `namespace`, `pod` or selectors (a hit outside them, or the user's
        grants: 404)."""
        if not sources:
            raise refusal(ErrorCode.NOT_FOUND, "the selectors pick no container or pod now")
        asked = from_path(
            LinesAround, {"sources": sources, "at": at, "before": before, "after": after}
        )
        answer: LogAround = await call_service(request, History.LINES_AROUND, asked)
        return Response(answer.model_dump_json(), media_type="application/json")

    return router


async def _picked(
    gateway: Gateway, principal: Principal, params: dict[str, str]
) -> list[LogSourceRef]:
    """What a merged view with these selectors would show now, as the search's sources."""
    try:
        channel = channel_admission.resolve(MERGED, params, unknown=ErrorCode.INVALID_MESSAGE)
        channel = await gateway.hub.admit(channel, principal.may_see_cluster)
    except ChannelRefused as exc:
        raise refused(exc) from None
    picked = await gateway.merged_sources(channel, principal.may_see_cluster)
    selection = dict(channel.params).get("journal")  # in its one canonical form
    sources = [_picked_source(source, selection) for source in picked]
    workload = params.get("workload", "")
    if workload and not workload.startswith("statefulset/"):  # its pods' own names are kept
        # where it runs now, or where it was asked for: its pods may all be gone
        namespaces = {(s.cluster, s.namespace) for s in sources if s.kind == "k8s"}
        if "cluster" in params and "namespace" in params:
            namespaces.add((params["cluster"], params["namespace"]))
        sources += [
            _source(kind="k8s", cluster=cluster, namespace=namespace, pod=workload.split("/")[1])
            for cluster, namespace in sorted(namespaces)
        ]
    if len(sources) > MAX_SOURCES:
        raise refusal(
            ErrorCode.INVALID_MESSAGE,
            f"the selectors pick {len(sources)} sources, more than {MAX_SOURCES}: narrow them",
        )
    return sources


def _picked_source(source: LogSource, selection: str | None) -> LogSourceRef:
    """A merged view's source as a search's: a container (with its kept lines, by its
    name), a pod, a host's journal (the view's `selection` of it) or a log file."""
    if source.journal:
        return _source(kind="journal", host=source.host, journal=selection)
    if source.file:
        return _source(kind="file", host=source.host, file=source.name)
    if source.cluster is not None:
        return _source(
            kind="k8s", cluster=source.cluster, namespace=source.namespace, pod=source.name
        )
    name = source.name if is_name(NameKind.CONTAINER, source.name) else None
    return _source(kind="docker", host=source.host, container=source.container, name=name)


def _source(**fields: str | None) -> LogSourceRef:
    return from_path(LogSourceRef, fields)


async def _container(gateway: Gateway, host: str | None, typed: str) -> list[LogSourceRef]:
    """A live container by name or id (its kept lines by its name); else one removed, on
    `host`, by its id or (kept lines) its name."""
    try:
        found = await gateway.containers.find(typed, host)
    except ChannelRefused as exc:
        if host is None or exc.code is not ErrorCode.NOT_FOUND:
            raise refusal(exc.code, exc.reason) from None
        return [
            _source(kind="docker", host=host, container=typed),
            _source(kind="docker", host=host, name=typed),
        ]
    name = found.name if is_name(NameKind.CONTAINER, found.name) else None  # kept by a token
    return [_source(kind="docker", host=found.host, container=found.id, name=name)]


def _level(name: str | None) -> LevelName | None:
    """`name` as a level (aliases too: warning, err, crit), or a 422 that lists them."""
    try:
        return None if name is None else level_named(name)
    except ValueError as exc:
        raise refusal(ErrorCode.INVALID_MESSAGE, f"level: {exc}") from None


def _moment(name: str, value: str | None) -> datetime | None:
    """`value` as a moment: a duration back from now, or an RFC 3339 time with its zone."""
    if value is None:
        return None
    try:
        if is_duration(value):
            return utc_now() - parse_duration(value)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise refusal(
            ErrorCode.INVALID_MESSAGE, f"{name}: {value!r} is neither a duration (2h) nor RFC 3339"
        )
    return moment
