"""The deploy spec refuses what would go wrong later, keeps its secrets from readers, a
deploy is visible by cluster grant, and pull progress adds up per layer."""

import pytest
from pydantic import ValidationError

from vigil.access import Principal, Role
from vigil.messages import (
    DeployRecord,
    DeploySpec,
    DeployState,
    DeployStep,
    Requester,
    RunningHealth,
    SecretArg,
    utc_now,
    visible_to,
)
from vigil_deployer.errors import StepFailed
from vigil_deployer.pull import PullTracker, summary

K8S = {"target": "kubernetes", "cluster": "prod", "namespace": "shop"}


def spec(**fields: object) -> DeploySpec:
    return DeploySpec.model_validate({"name": "web", "image": "registry:5000/team/web:2"} | fields)


def test_a_minimal_spec_recreates_and_waits_until_running() -> None:
    minimal = spec()
    assert (minimal.target, minimal.strategy, minimal.host) == ("docker", "recreate", None)
    assert isinstance(minimal.health, RunningHealth)


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"name": "web.prod"}, "invalid container 'web.prod'"),
        ({"image": "Web Server"}, "not an image reference"),
        ({"env": {"1BAD": "x"}}, "environment variable name"),
        ({"labels": {"vigil.deploy.id": "x"}}, "vigil.deploy.* is ours"),
        ({"health": {"kind": "ping"}}, "does not match any of the expected tags"),
        ({"host": "a.b"}, "only letters"),
        (
            {"strategy": "start-first", "ports": [{"container_port": 80, "host_port": 8080}]},
            "cannot both publish host port 8080",
        ),
        ({"images": {"sidecar": "web:2"}}, "kubernetes only"),
        ({**K8S, "labels": {"tier": "web"}}, "labels are the Deployment's own"),
        ({**K8S, "patch": {"image": "other:1"}}, "set by the spec"),
        ({**K8S, "images": {"side car": "web:2"}}, "invalid container"),
    ],
)
def test_a_bad_spec_is_refused_saying_what_is_wrong(
    fields: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        spec(**fields)
    assert complaint in str(refused.value)


def test_environment_values_are_hidden_from_readers() -> None:
    assert spec(env={"PASSWORD": "hunter2"}).redacted().env == {"PASSWORD": "***"}


def test_pull_progress_is_per_layer_and_never_goes_back() -> None:
    tracker = PullTracker()
    chunks = [
        {"status": "Pulling from team/web", "id": "2"},
        {"status": "Already exists", "id": "base"},
        {"status": "Pulling fs layer", "id": "a"},
        {"status": "Pulling fs layer", "id": "b"},
        {"status": "Downloading", "id": "a", "progressDetail": {"current": 50, "total": 100}},
        {"status": "Download complete", "id": "a"},
        {"status": "Downloading", "id": "b", "progressDetail": {"current": 10, "total": 1000}},
        {"status": "Pull complete", "id": "a"},
        {"status": "Downloading", "id": "b", "progressDetail": {"current": 900, "total": 1000}},
    ]
    seen = []
    for chunk in chunks:
        tracker.feed(chunk)
        if (taken := tracker.take()) is not None:  # "Pulling from" changes nothing
            seen.append(taken.percent)
            snapshot = taken
    assert len(seen) == len(chunks) - 1
    assert seen == sorted(seen)
    assert seen[-1] < 100
    layers = {layer.id: layer for layer in snapshot.layers}
    assert (layers["a"].percent, layers["b"].percent, layers["base"].percent) == (100, 90, 100)
    assert (snapshot.current, snapshot.total) == (1000, 1100)
    assert tracker.take() is None  # nothing new

    final = tracker.final()
    assert final.percent == 100
    assert all(layer.percent == 100 for layer in final.layers)


def test_pull_progress_reads_in_iec_units_and_of_unknown_until_every_size_is_told() -> None:
    tracker = PullTracker()
    for named in ({"status": "Already exists", "id": "base"}, *PULLING_FS_LAYERS):
        tracker.feed(named)  # Docker names every layer first
    said = []
    for chunk in [
        {"status": "Downloading", "id": "a", "progressDetail": {"current": 512, "total": 2048}},
        {"status": "Downloading", "id": "b", "progressDetail": {"current": 0, "total": 3 << 20}},
    ]:
        if (taken := tracker.take()) is not None:
            said.append(summary(taken))
        tracker.feed(chunk)
    said += [summary(snapshot) for snapshot in (tracker.take(), tracker.final()) if snapshot]
    assert said == [
        "33.3 % of ? (1/3 layers)",  # was "33.3 % of 0.0 MB"
        "41.7 % of ? (1/3 layers)",  # b has not told its size yet
        "41.7 % of 3.0 MiB (1/3 layers)",
        "100.0 % of 3.0 MiB (3/3 layers)",
    ]


PULLING_FS_LAYERS = [{"status": "Pulling fs layer", "id": layer} for layer in ("a", "b")]


def test_an_error_in_the_pull_stream_fails_the_pull() -> None:
    with pytest.raises(StepFailed) as failed:
        PullTracker().feed({"error": "manifest unknown", "errorDetail": {}})
    assert (failed.value.step, failed.value.reason) == ("pull", "manifest unknown")


# -- secrets: write-only ---------------------------------------------------------------

SECRET_SPEC = {
    "command": ["serve", "--token", {"secret": "tok-4f9a2c"}],
    "env": {"DB_PASSWORD": "pw-81c0d3", "EMPTY": ""},
}
K8S_SECRETS = {
    **K8S,
    "env": {"API_KEY": "key-77e1b0"},
    "patch": {
        "args": ["--verbose", {"secret": "arg-5d2e91"}],
        "command": [{"secret": "cmd-c4a6f8"}],
        "env": [
            {"name": "PATCHED", "value": "patched-0b3e7d"},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        "workingDir": "/srv",
    },
}
ALL_SECRETS = [
    "tok-4f9a2c",
    "pw-81c0d3",
    "key-77e1b0",
    "arg-5d2e91",
    "cmd-c4a6f8",
    "patched-0b3e7d",
]


def test_secrets_are_used_in_clear_by_the_deployer_only() -> None:
    docker = spec(**SECRET_SPEC)
    assert docker.argv() == ["serve", "--token", "tok-4f9a2c"]
    assert docker.env == {"DB_PASSWORD": "pw-81c0d3", "EMPTY": ""}
    assert "tok-4f9a2c" in docker.model_dump_json()  # the bus carries it to the deployer
    k8s = spec(**K8S_SECRETS)
    assert k8s.patch_as_run()["args"] == ["--verbose", "arg-5d2e91"]
    assert k8s.patch_as_run()["command"] == ["cmd-c4a6f8"]
    assert sorted(k8s.secrets()) == sorted(
        ["key-77e1b0", "arg-5d2e91", "cmd-c4a6f8", "patched-0b3e7d"]
    )


def test_a_readers_spec_names_every_secret_but_holds_no_value() -> None:
    docker, k8s = spec(**SECRET_SPEC).redacted(), spec(**K8S_SECRETS).redacted()
    assert docker.env == {"DB_PASSWORD": "***", "EMPTY": "***"}
    assert docker.command == ["serve", "--token", SecretArg(secret="***")]
    assert k8s.patch["args"] == ["--verbose", {"secret": "***"}]
    assert k8s.patch["env"][0] == {"name": "PATCHED", "value": "***"}
    assert k8s.patch["env"][1]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "k"}}
    assert k8s.patch["workingDir"] == "/srv"
    shown = docker.model_dump_json() + k8s.model_dump_json()
    assert not [secret for secret in ALL_SECRETS if secret in shown]
    # what a reader sees parses as a spec again (clients type records with it)
    assert DeploySpec.model_validate_json(k8s.model_dump_json()) == k8s


def test_a_record_view_masks_the_reason_and_leaves_the_rollback_state_out() -> None:
    now = utc_now()
    record = DeployRecord(
        id="abc123",
        spec=spec(**K8S_SECRETS),
        requested_by=Requester(kind="user", id="u1", name="uma", token="t" * 32),
        created_at=now,
        updated_at=now,
        state=DeployState.FAILED,
        step=DeployStep.DONE,
        reason="health: exited; its last output: API_KEY=key-77e1b0 PATCHED=patched-0b3e7d",
        target_state={"template": {"spec": {"containers": [{"env": [{"value": "old-secret"}]}]}}},
    )
    view = record.view()
    assert view.reason == "health: exited; its last output: API_KEY=*** PATCHED=***"
    assert (view.target_state, view.requested_by.token) == ({}, "")
    assert "old-secret" not in view.model_dump_json()


def test_short_secret_values_are_not_masked_inside_free_text() -> None:
    assert spec(env={"REPLICAS": "1"}).mask("pulled 1 layer, 1.5 MB") == "pulled 1 layer, 1.5 MB"


@pytest.mark.parametrize(
    ("patch", "complaint"),
    [
        ({"args": "--token x"}, "patch.args: a list of strings"),
        ({"command": [{"secret": 1}]}, "patch.command: a list of strings"),
        ({"args": [{"secret": "x", "more": "y"}]}, "patch.args"),
        ({"env": {"A": "b"}}, "patch.env: a list of"),
        ({"env": [{"value": "b"}]}, "patch.env: a list of"),
    ],
)
def test_a_patch_whose_secrets_could_not_be_hidden_is_refused(
    patch: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        spec(**K8S, patch=patch)


def test_a_kubernetes_deploy_is_visible_to_its_clusters_grant_a_docker_one_to_all() -> None:
    def who(clusters: list[str]) -> Principal:
        return Principal(kind="user", id="u", name="uma", roles=[Role.VIEWER], clusters=clusters)

    now = utc_now()

    def record(**fields: object) -> DeployRecord:
        return DeployRecord(
            id="d1",
            spec=spec(**fields),
            requested_by=Requester(kind="user", id="u1", name="uma", token=""),
            created_at=now,
            updated_at=now,
            state=DeployState.QUEUED,
            step=DeployStep.QUEUE,
        )

    on_prod, on_docker = record(**K8S), record()
    assert (on_prod.cluster, on_docker.cluster) == ("prod", None)
    granted = [["prod"], ["*"], ["stage", "prod"]]
    assert [visible_to(on_prod, who(clusters)) for clusters in granted] == [True, True, True]
    assert [visible_to(on_prod, who(clusters)) for clusters in (["stage"], [])] == [False, False]
    assert [visible_to(on_docker, who(clusters)) for clusters in ([], ["stage"])] == [True, True]
