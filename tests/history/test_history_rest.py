"""`GET /api/history/...` on a real gateway, auth and history service: the answer is
the history service's, a pod's and a node's only for their cluster's grant (the
refusal audited), every bad range a clear 422, and 503 without the history service."""

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.grant_support import granted
from tests.history.test_history_kubernetes import k8s_sample
from tests.history_support import (
    HOST,
    TIERS,
    Container,
    docker_sample,
    history_settings_for,
    rolled_up_to,
    run_history,
    write_samples,
)
from tests.support import NatsServer, bearer, bus_client, until

WEB = "0123456789ab"


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=15) as client:
        yield client


def web_series(answer: Any) -> Any:
    return answer["entries"][0]["series"]


async def get(http: httpx.AsyncClient, path: str, token: str, **params: Any) -> Any:
    response = await http.get(path, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_containers_history_by_name_or_id_and_the_hosts_table(
    http: httpx.AsyncClient, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 20) * 60
    samples = [
        docker_sample(
            start + 2 * i, [Container("web", WEB, 10.0, 1000), Container("db", "d" * 12, 1.0, 5)]
        )
        for i in range(300)  # 10 minutes, every 2 s
    ]
    async with bus_client(nats_server, prefix) as bus:
        await write_samples(bus, samples)
        async with run_history(history_settings_for(nats_server, prefix)):
            await rolled_up_to(bus, TIERS[1], start + 600)
            ranged = {"start": samples[0].time.isoformat(), "end": samples[-1].time.isoformat()}
            base = f"/api/history/docker/{HOST}/containers"
            by_name = await get(http, f"{base}/web", admin_token, step_s=60, **ranged)
            by_id = await get(http, f"{base}/{WEB}", admin_token, step_s=60, **ranged)
            table = await get(http, base, admin_token, step_s=60, **ranged)
            last_hour = await get(http, f"{base}/web", admin_token)  # since 1h by default
            host = await get(http, f"/api/history/hosts/{HOST}", admin_token, since="30m")
            chart = await get(
                http, f"{base}/web", admin_token, step_s=60, series="cpu_percent", **ranged
            )

    assert by_name == by_id
    (cpu,) = chart["entries"]  # only the series asked, the same figures
    assert cpu["series"] == {"cpu_percent": web_series(by_name)["cpu_percent"]}
    (web,) = by_name["entries"]
    assert (web["key"], web["id"], by_name["step_s"]) == ("web", WEB, 60)
    assert web["samples"] == [30] * 10
    assert web["series"]["cpu_percent"]["mean"] == [10.0] * 10
    assert [span["tier"] for span in by_name["tiers"]] == [TIERS[1].name]
    assert sorted(entry["key"] for entry in table["entries"]) == ["db", "web"]

    end = datetime.fromisoformat(last_hour["end"])
    assert abs((end - datetime.now(UTC)).total_seconds()) < 120
    assert end - datetime.fromisoformat(last_hour["start"]) >= timedelta(hours=1)
    (recent,) = last_hour["entries"]
    assert sum(recent["samples"]) == 300  # every sample, whichever tier held it
    assert (host["kind"], host["source"], host["entries"]) == ("host", HOST, [])


async def test_a_pods_and_a_nodes_history_only_for_their_clusters_grant(
    http: httpx.AsyncClient, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    ann = await granted(http, admin_token, "ann", ["c1"])
    start = (int(time.time()) // 60 - 20) * 60
    async with bus_client(nats_server, prefix) as bus:
        for n in range(60):
            await bus.publish(bus.subjects.k8s_metrics("c1"), k8s_sample(start + 10 * n, n))
        async with run_history(history_settings_for(nats_server, prefix)):
            since = {"since": "30m", "step_s": 60}

            async def pods_history() -> Any:
                answer = await get(http, "/api/history/k8s/c1/pods/shop/web-1", ann, **since)
                return answer if sum(sum(e["samples"]) for e in answer["entries"]) == 60 else None

            pod = await until(pods_history, "the pod's ten minutes, to ann")
            node = await get(http, "/api/history/k8s/c1/nodes/node-a", ann, **since)
            refused = [
                await http.get(path, params=since, headers=bearer(ann))
                for path in ("/api/history/k8s/c2/pods/shop/web-1", "/api/history/k8s/c2/nodes/n")
            ]
    (entry,) = pod["entries"]
    assert (pod["source"], entry["key"]) == ("c1", "shop/web-1")
    assert [e["key"] for e in node["entries"]] == ["node-a"]
    for response in refused:
        assert response.status_code == 403
        assert response.json()["detail"]["code"] == "FORBIDDEN"
        assert "c2" in response.json()["detail"]["message"]

    async def audited() -> list[Any] | None:
        events = await get(http, "/api/audit", admin_token, actor="ann", outcome="refused")
        return [e["action"] for e in events["events"]] if len(events["events"]) == 2 else None

    actions = await until(audited, "both refusals in the audit trail")
    assert sorted(actions) == [
        "GET /api/history/k8s/c2/nodes/n",
        "GET /api/history/k8s/c2/pods/shop/web-1",
    ]


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("/api/history/hosts/h1", {"since": "yesterday"}, "since:"),
        ("/api/history/hosts/h1", {"since": "0m"}, "a range needs a length"),
        ("/api/history/hosts/h1", {"since": "99999999d"}, "too long"),
        ("/api/history/hosts/h1", {"since": "1h", "start": "2026-01-01T00:00:00Z"}, "not both"),
        ("/api/history/hosts/h1", {"start": "2026-01-01T00:00:00"}, "start"),
        ("/api/history/hosts/h1", {"step_s": 0}, "step_s"),
        ("/api/history/hosts/h1", {"since": "30d", "step_s": 1}, "ask a step of at least"),
        ("/api/history/hosts/h1.*", {}, "host:"),
        (f"/api/history/docker/{HOST}/containers/web.%3E", {}, "container:"),
        (f"/api/history/docker/{HOST}/containers/web", {"series": "nope"}, "no series 'nope'"),
        (f"/api/history/docker/{HOST}/containers/web", {"series": "cpu,"}, "series.1:"),
        ("/api/history/k8s/c1/pods/Bad_Namespace/web-1", {}, "namespace:"),
    ],
)
async def test_a_bad_range_or_name_is_a_422_that_says_what_is_wrong(
    http: httpx.AsyncClient,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
    path: str,
    params: dict[str, Any],
    says: str,
) -> None:
    async with run_history(history_settings_for(nats_server, prefix)):
        response = await http.get(path, params=params, headers=bearer(admin_token))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if isinstance(detail, list):  # FastAPI's own: a query parameter of the wrong type
        assert detail[0]["loc"] == ["query", says]
    else:
        assert detail["code"] == "INVALID_MESSAGE"
        assert says in detail["message"]


async def test_without_credentials_401_and_without_the_history_service_503(
    http: httpx.AsyncClient, admin_token: str
) -> None:
    assert (await http.get(f"/api/history/hosts/{HOST}")).status_code == 401
    response = await http.get(f"/api/history/hosts/{HOST}", headers=bearer(admin_token))
    assert response.status_code == 503, response.text
    assert response.json()["detail"] == {
        "code": "UNAVAILABLE",
        "message": "the history service is unavailable",
    }
