"""`GET /api/logs/search` on a real gateway, auth and history service: every container
and the pods of the clusters a user may see; a cluster asked without its grant is 403
(audited); a container by its name or, once removed, its id; pages through the cursor;
every bad input a clear 422; a retained container's kept lines by its name, every
generation, live or removed; what a merged view's selectors pick (label, name glob, pod
selector, workload with its kept pods gone since), within the grants."""

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.docker_support import announce_container
from tests.grant_support import granted
from tests.history.test_history_kubernetes import k8s_sample
from tests.history.test_kept_log_search import kept_lines
from tests.history.test_log_search import container_lines, line, pod_lines
from tests.history_support import history_settings_for, run_history, search_hits
from tests.support import NatsServer, bearer, bus_client, until
from vigil.messages import ContainerStatus, KeptPodLogBatch, PodOwner, PodStatusChanged
from vigil.messages.common import utc_now

SEARCH = "/api/logs/search"
AROUND = "/api/logs/around"


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=15) as client:
        yield client


@pytest.fixture
async def kept(nats_server: NatsServer, prefix: str) -> AsyncIterator[None]:
    """The history service, and lines of two containers and two clusters' pods kept."""
    async with run_history(history_settings_for(nats_server, prefix)):
        async with bus_client(nats_server, prefix) as bus:
            await announce_container(bus, "web1", "aaaa11112222", "shop-web")
            await container_lines(bus, "web1", "aaaa11112222", [line(1, "ERROR web")])
            await container_lines(bus, "web1", "cccc11112222", [line(2, "ERROR removed")])
            await pod_lines(bus, "prod", "api-1", [line(3, "ERROR prod pod")])
            await pod_lines(bus, "staging", "api-1", [line(4, "ERROR staging pod")])
            for cluster in ("prod", "staging"):  # the gateway knows a cluster by its metrics
                sample = k8s_sample(time.time(), 0).model_copy(update={"cluster": cluster})
                await bus.publish(bus.subjects.k8s_metrics(cluster), sample)
        yield


async def texts(http: httpx.AsyncClient, token: str, **params: Any) -> list[str]:
    """Every hit's text, page after page."""
    return [hit["text"] for hit in await search_hits(http, token, **{"pattern": "ERROR", **params})]


async def test_every_source_the_user_may_see_and_a_cluster_only_with_its_grant(
    http: httpx.AsyncClient, admin_token: str, kept: None
) -> None:
    everything = ["ERROR staging pod", "ERROR prod pod", "ERROR removed", "ERROR web"]

    async def all_of_it() -> list[str] | None:
        found = await texts(http, admin_token)
        return found if found == everything else None

    await until(all_of_it, "every line, to the admin")
    ann = await granted(http, admin_token, "ann", ["prod"])
    assert await texts(http, ann) == ["ERROR prod pod", "ERROR removed", "ERROR web"]
    assert await texts(http, ann, cluster="prod", namespace="shop") == ["ERROR prod pod"]
    assert await texts(http, ann, level="err") == await texts(http, ann)  # an alias of error
    assert await texts(http, ann, level="fatal") == []
    assert await texts(http, ann, order="oldest", limit=1) == [
        "ERROR web",
        "ERROR removed",
        "ERROR prod pod",
    ]

    refused = await http.get(
        SEARCH, params={"pattern": "x", "cluster": "staging"}, headers=bearer(ann)
    )
    assert refused.status_code == 403
    assert "staging" in refused.json()["detail"]["message"]

    async def audited() -> list[Any] | None:
        response = await http.get(
            "/api/audit", params={"actor": "ann", "outcome": "refused"}, headers=bearer(admin_token)
        )
        events = response.json()["events"]
        return events or None

    (event,) = await until(audited, "the refusal in the audit trail")
    assert (event["action"], event["target"]) == (f"GET {SEARCH}", "staging")


async def test_the_lines_around_a_hit_only_of_what_the_user_may_search(
    http: httpx.AsyncClient, admin_token: str, kept: None
) -> None:
    async def hits() -> list[dict[str, Any]] | None:
        response = await http.get(SEARCH, params={"pattern": "ERROR"}, headers=bearer(admin_token))
        found: list[dict[str, Any]] = response.json()["hits"]
        return found if len(found) == 4 else None

    by_text = {hit["text"]: hit for hit in await until(hits, "every line, to the admin")}
    around = await http.get(
        AROUND, params={"at": by_text["ERROR web"]["at"]}, headers=bearer(admin_token)
    )
    assert around.status_code == 200, around.text
    lines, at = around.json()["lines"], around.json()["hit"]
    assert lines[at]["text"] == "ERROR web"

    ann = await granted(http, admin_token, "ann", ["prod"])
    staging = {"at": by_text["ERROR staging pod"]["at"]}
    assert (await http.get(AROUND, params=staging, headers=bearer(ann))).status_code == 404
    for never in ("0:0", "99999999:0"):  # no such position: 404, not the stream's error
        answer = await http.get(AROUND, params={"at": never}, headers=bearer(ann))
        assert answer.status_code == 404, answer.text
    asked = staging | {"cluster": "staging"}
    assert (await http.get(AROUND, params=asked, headers=bearer(ann))).status_code == 403
    prod = {"at": by_text["ERROR prod pod"]["at"], "before": 0, "after": 0}
    mine = await http.get(AROUND, params=prod, headers=bearer(ann))
    assert [line["text"] for line in mine.json()["lines"]] == ["ERROR prod pod"]
    for bad in ({"at": "x"}, {"at": "1:0", "before": -1}, {"at": "1:0", "after": 501}, {}):
        response = await http.get(AROUND, params=bad, headers=bearer(ann))
        assert response.status_code == 422, (bad, response.text)


async def test_a_container_by_name_or_once_removed_by_its_id(
    http: httpx.AsyncClient, admin_token: str, kept: None
) -> None:
    async def by_name() -> list[str] | None:
        found = await texts(http, admin_token, container="shop-web")
        return found or None

    assert await until(by_name, "the container by its name") == ["ERROR web"]
    assert await texts(http, admin_token, host="web1", container="cccc11112222") == [
        "ERROR removed"
    ]
    assert await texts(http, admin_token, host="web1") == ["ERROR removed", "ERROR web"]
    unknown = await http.get(
        SEARCH, params={"pattern": "x", "container": "nope"}, headers=bearer(admin_token)
    )
    assert unknown.status_code == 404


async def test_a_retained_containers_kept_lines_by_its_name_every_generation(
    http: httpx.AsyncClient, admin_token: str, kept: None, nats_server: NatsServer, prefix: str
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        # shop-web (live: aaaa11112222) ran before as another container, kept by name.
        await kept_lines(bus, "shop-web", "dddd11112222", [line(0, "ERROR web before")])
        await kept_lines(bus, "old-api", "eeee11112222", [line(5, "ERROR old api 1")])
        await kept_lines(bus, "old-api", "ffff11112222", [line(6, "ERROR old api 2")])

    async def by_name() -> list[str] | None:
        found = await texts(http, admin_token, container="shop-web")
        return found if len(found) == 2 else None

    assert await until(by_name, "both generations of shop-web") == [
        "ERROR web before",
        "ERROR web",
    ]
    removed = await texts(http, admin_token, host="web1", container="old-api")
    assert removed == ["ERROR old api 2", "ERROR old api 1"]
    one = await texts(http, admin_token, host="web1", container="eeee11112222")
    assert one == ["ERROR old api 1"]


def running_pod(cluster: str, pod: str, labels: dict[str, str], owner: str) -> PodStatusChanged:
    """A running pod of namespace shop owned by Deployment `owner`, as its collector says."""
    return PodStatusChanged(
        cluster=cluster,
        namespace="shop",
        pod=pod,
        phase="Running",
        ready=True,
        restarts=0,
        containers=[ContainerStatus(name="app", ready=True, restarts=0, state="running")],
        event="snapshot",
        resource_version="1",
        time=utc_now(),
        labels=labels,
        owner=PodOwner(kind="Deployment", name=owner),
    )


async def test_a_merged_views_selectors_pick_what_is_searched(
    http: httpx.AsyncClient, admin_token: str, kept: None, nats_server: NatsServer, prefix: str
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        await announce_container(bus, "web1", "bbbb11112222", "shop-api", {"tier": "api"})
        await container_lines(bus, "web1", "bbbb11112222", [line(5, "ERROR api")])
        for cluster in ("prod", "staging"):
            pod = running_pod(cluster, "api-1", {"app": "api"}, "api")
            await bus.publish(bus.subjects.k8s_status(cluster, "shop", "api-1"), pod)
        gone = KeptPodLogBatch(  # a pod of the Deployment before api-1, kept under it
            cluster="prod",
            namespace="shop",
            workload="api",
            pod="api-0",
            container="app",
            start=int(line(0, "").time.timestamp()) * 1_000_000,
            lines=[(0, "ERROR api pod gone")],
        )
        await bus.publish(bus.subjects.kept_k8s_logs("prod", "shop", "api"), gone)
        scaled_down = gone.model_copy(update={"workload": "old", "pod": "old-1"})
        await bus.publish(bus.subjects.kept_k8s_logs("prod", "shop", "old"), scaled_down)

    async def labelled() -> list[str] | None:
        return await texts(http, admin_token, label="tier=api") or None

    assert await until(labelled, "the labelled container's lines") == ["ERROR api"]
    assert await texts(http, admin_token, name="shop-*") == ["ERROR api", "ERROR web"]
    assert await texts(http, admin_token, name="shop-w*", host="web1") == ["ERROR web"]
    assert await texts(http, admin_token, name="shop-*", host="web2") == []
    pods = await texts(http, admin_token, selector="app=api")
    assert pods == ["ERROR staging pod", "ERROR prod pod"]
    workload = {"workload": "deployment/api", "cluster": "prod"}
    assert await texts(http, admin_token, **workload) == ["ERROR api pod gone", "ERROR prod pod"]
    assert await texts(http, admin_token, selector="app=nothing") == []
    no_pods = {"workload": "deployment/old", "cluster": "prod", "namespace": "shop"}
    assert await texts(http, admin_token, **no_pods) == ["ERROR api pod gone"]  # old-1's

    ann = await granted(http, admin_token, "ann", ["prod"])
    assert await texts(http, ann, selector="app=api") == ["ERROR prod pod"]
    refused = await http.get(
        SEARCH,
        params={"pattern": "x", "selector": "app=api", "cluster": "staging"},
        headers=bearer(ann),
    )
    assert refused.status_code == 403, refused.text

    found = await http.get(
        SEARCH, params={"pattern": "api", "label": "tier=api"}, headers=bearer(ann)
    )
    (hit,) = found.json()["hits"]
    around = {"at": hit["at"], "label": "tier=api"}
    assert (await http.get(AROUND, params=around, headers=bearer(ann))).status_code == 200
    elsewhere = around | {"label": "tier=db"}  # picks nothing
    assert (await http.get(AROUND, params=elsewhere, headers=bearer(ann))).status_code == 404


BAD_SEARCHES: list[tuple[dict[str, str], str]] = [
    ({"pattern": "(a)\\1"}, "pattern"),
    ({"pattern": ""}, "pattern"),
    ({"pattern": "x", "since": "yesterday"}, "since:"),
    ({"pattern": "x", "until": "2026-01-01T00:00:00"}, "until:"),
    ({"pattern": "x", "since": "99999999d"}, "since:"),
    ({"pattern": "x", "since": "1h", "until": "2h"}, "until must be after since"),
    ({"pattern": "x", "cluster": "prod", "host": "web1"}, "a cluster's pods or"),
    ({"pattern": "x", "pod": "api-1"}, "a cluster's"),
    ({"pattern": "x", "cluster": "prod", "pod": "api-1"}, "namespace"),
    ({"pattern": "x", "host": "web.*"}, "host"),
    ({"pattern": "x", "cursor": "12"}, "cursor"),
    ({"pattern": "x", "limit": "0"}, "limit"),
    ({"pattern": "x", "order": "random"}, "order"),
    ({"pattern": "x", "level": "loud"}, "level is one of trace, debug, info, warn, error, fatal"),
    ({"pattern": "x", "label": "a", "container": "shop-web"}, "not both"),
    ({"pattern": "x", "selector": "app=api", "host": "web1"}, "host narrows containers"),
    ({"pattern": "x", "label": "a", "namespace": "shop"}, "namespace narrows pods"),
    ({"pattern": "x", "label": "bad label!"}, "label"),
    ({"pattern": "x", "workload": "pod/api"}, "workload"),
]


async def test_every_bad_search_is_a_422_that_says_what_is_wrong(
    http: httpx.AsyncClient, admin_token: str, kept: None
) -> None:
    for params, says in BAD_SEARCHES:
        response = await http.get(SEARCH, params=params, headers=bearer(admin_token))
        assert response.status_code == 422, (params, response.text)
        assert says in str(response.json()["detail"]), (params, response.text)


async def test_without_credentials_401(http: httpx.AsyncClient) -> None:
    response = await http.get(SEARCH, params={"pattern": "x"})
    assert response.status_code == 401
