"""`GET /api/history/...`: a host's, a container's, every container's of a host, a
pod's or a node's metrics over a range, as the history service keeps them.

Each route is one `ctl.history.query` (`vigil.messages.history`); the history service
picks the tiers. A pod's or a node's history is its cluster's: a user without that
cluster's grant is refused 403 (and the refusal audited), as for the live data.

The range is `since` (a duration back from now, `1h` by default) or `start` (and
`end`, by default now); `step_s` the width of a point (by default the finest the
history keeps for the range); `series` the ones a chart draws (all by default).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime

from vigil.access import Principal
from vigil.durations import parse_duration
from vigil.messages import ErrorCode, HistoryKind, HistorySeries, QueryHistory, utc_now
from vigil.operations import History
from vigil_gateway.http.http_auth import authenticated, check_cluster_grant, refusal
from vigil_gateway.http.service_calls import call_service, from_path
from vigil_gateway.http.strict_json import StrictJsonRoute

Anyone = Annotated[Principal, Depends(authenticated)]

DEFAULT_SINCE = timedelta(hours=1)


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime | None
    step_s: int | None
    series: list[str] | None


def time_range(
    since: Annotated[
        str | None, Query(max_length=32, description="back from now: 15m, 1h, 7d (default 1h)")
    ] = None,
    start: Annotated[AwareDatetime | None, Query(description="RFC 3339, with its zone")] = None,
    end: Annotated[AwareDatetime | None, Query(description="RFC 3339 (default now)")] = None,
    step_s: Annotated[int | None, Query(ge=1, description="seconds per point")] = None,
    series: Annotated[
        str | None, Query(max_length=512, description="only these: cpu_percent,memory_usage")
    ] = None,
) -> Range:
    """The range asked: `since`, or `start` (and `end`); never both. And the series a
    chart draws, if not all."""
    if since is not None and (start is not None or end is not None):
        raise refusal(ErrorCode.INVALID_MESSAGE, "give since, or start and end, not both")
    if start is None:
        try:
            back = parse_duration(since) if since is not None else DEFAULT_SINCE
        except ValueError as exc:
            raise refusal(ErrorCode.INVALID_MESSAGE, f"since: {exc}") from None
        if not back:
            raise refusal(ErrorCode.INVALID_MESSAGE, "since: a range needs a length")
        try:
            start = utc_now() - back
        except OverflowError:
            raise refusal(ErrorCode.INVALID_MESSAGE, f"since: {since!r} is too long") from None
    names = series.split(",") if series is not None else None
    return Range(start, end, step_s, names)


Asked = Annotated[Range, Depends(time_range)]


def history_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.get("/api/history/hosts/{host}", response_model=HistorySeries)
    async def host(request: Request, principal: Anyone, host: str, asked: Asked) -> Response:
        """A host's CPU, load, memory, swap, disk and network rates over the range."""
        return await _ask(request, HistoryKind.HOST, asked, host=host)

    @router.get("/api/history/docker/{host}/containers", response_model=HistorySeries)
    async def containers(request: Request, principal: Anyone, host: str, asked: Asked) -> Response:
        """Every container the host ran over the range (one removed since too): the
        table's figures, to sort by each one's peak or mean."""
        return await _ask(request, HistoryKind.CONTAINERS, asked, host=host)

    @router.get("/api/history/docker/{host}/containers/{container}", response_model=HistorySeries)
    async def container(
        request: Request, principal: Anyone, host: str, container: str, asked: Asked
    ) -> Response:
        """A container by id or name: one recreated under its name goes on as one
        history, and one removed stays readable for the tiers' retention."""
        return await _ask(request, HistoryKind.CONTAINER, asked, host=host, container=container)

    @router.get("/api/history/k8s/{cluster}/pods/{namespace}/{pod}", response_model=HistorySeries)
    async def pod(
        request: Request, principal: Anyone, cluster: str, namespace: str, pod: str, asked: Asked
    ) -> Response:
        """A pod's CPU (millicores) and memory over the range (its cluster's grant)."""
        check_cluster_grant(request, principal, cluster)
        return await _ask(
            request, HistoryKind.POD, asked, cluster=cluster, namespace=namespace, pod=pod
        )

    @router.get("/api/history/k8s/{cluster}/nodes/{node}", response_model=HistorySeries)
    async def node(
        request: Request, principal: Anyone, cluster: str, node: str, asked: Asked
    ) -> Response:
        """A node's CPU (millicores) and memory over the range (its cluster's grant)."""
        check_cluster_grant(request, principal, cluster)
        return await _ask(request, HistoryKind.NODE, asked, cluster=cluster, node=node)

    return router


async def _ask(request: Request, kind: HistoryKind, asked: Range, **names: str) -> Response:
    query = from_path(
        QueryHistory,
        {
            "kind": kind,
            "start": asked.start,
            "end": asked.end,
            "step_s": asked.step_s,
            "series": asked.series,
            **names,
        },
    )
    answer: HistorySeries = await call_service(request, History.QUERY, query)
    # serialized by pydantic at once: FastAPI's encoder would walk every point again
    return Response(answer.model_dump_json(), media_type="application/json")
