"""The deploy spec refuses what would go wrong later, and pull progress adds up per layer."""

import pytest
from pydantic import ValidationError

from vigil.messages import DeploySpec, RunningHealth
from vigil_deployer.errors import StepFailed
from vigil_deployer.pull import PullTracker

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


def test_an_error_in_the_pull_stream_fails_the_pull() -> None:
    with pytest.raises(StepFailed) as failed:
        PullTracker().feed({"error": "manifest unknown", "errorDetail": {}})
    assert (failed.value.step, failed.value.reason) == ("pull", "manifest unknown")
