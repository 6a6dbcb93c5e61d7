"""Names from outside never widen or split a subject."""

import pytest

from vigil.channels import resolve_channel
from vigil.errors import InvalidName, UnknownChannel
from vigil.names import GATEWAY_ONLY, NameKind, validate_name
from vigil.subjects import ANY, Subjects

HOSTILE = [
    "web.1",  # an extra token
    "*",
    ">",
    "web*",
    "a>b",
    "web 1",
    "web\t1",
    "web\n1",
    "",
    "x" * 300,
    "w\u0435b1",  # Cyrillic 'e', a look-alike
    "\uff57\uff45\uff42",  # fullwidth "web"
    "-web",
]


@pytest.mark.parametrize("kind", [kind for kind in NameKind if kind not in GATEWAY_ONLY])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_names_are_rejected_for_every_kind(kind: NameKind, value: str) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_name(kind, value)
    assert caught.value.kind == kind
    assert caught.value.reason


@pytest.mark.parametrize("kind", [NameKind.LABEL, NameKind.NAME_PATTERN])
@pytest.mark.parametrize("value", [v for v in HOSTILE if v not in {"web.1", "*", "web*", "-web"}])
def test_selectors_take_dots_and_globs_but_nothing_else_hostile(kind: NameKind, value: str) -> None:
    with pytest.raises(InvalidName):
        validate_name(kind, value)


def test_selectors_take_what_labels_and_name_patterns_are_made_of() -> None:
    assert validate_name(NameKind.LABEL, "com.docker.compose.project=shop")
    assert validate_name(NameKind.LABEL, "app.kubernetes.io/name")
    assert validate_name(NameKind.NAME_PATTERN, "shop-web-*")
    assert validate_name(NameKind.NAME_PATTERN, "api-?.prod")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (NameKind.HOST, "web-01"),
        (NameKind.CONTAINER, "4f1c2b9a8d7e"),
        (NameKind.CONTAINER, "tick_archiver"),
        (NameKind.CLUSTER, "prod-eu"),
        (NameKind.NAMESPACE, "kube-system"),
        (NameKind.POD, "api-7d9f8b6c5-x2x4z"),
        (NameKind.DEPLOY_ID, "d_01HZX3"),
    ],
)
def test_ordinary_names_pass(kind: NameKind, value: str) -> None:
    assert validate_name(kind, value) == value


def test_non_strings_are_rejected() -> None:
    with pytest.raises(InvalidName, match="must be a string"):
        validate_name(NameKind.HOST, 42)


def test_subject_builders_validate_every_token() -> None:
    subjects = Subjects("vigil")
    assert subjects.host_metrics("web1") == "vigil.metrics.host.web1"
    assert subjects.docker_status("web1", "abc") == "vigil.status.docker.web1.abc"
    assert subjects.k8s_logs("prod", "default", "api-0") == "vigil.logs.k8s.prod.default.api-0"
    assert subjects.deploy_events("d1") == "vigil.deploy.d1.events"
    with pytest.raises(InvalidName):
        subjects.host_metrics("web1.>")
    with pytest.raises(InvalidName):
        subjects.docker_status("web1", "*")


def test_wildcards_only_where_asked_for() -> None:
    subjects = Subjects("acme.vigil")
    assert subjects.host_metrics(ANY) == "acme.vigil.metrics.host.*"
    assert subjects.stream_name("latest") == "ACME_VIGIL_LATEST"


@pytest.mark.parametrize("prefix", ["", "vigil.", "a..b", "vi gil", "v*", "v>"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="subject prefix"):
        Subjects(prefix)


def test_channel_parameters_are_validated_names() -> None:
    channel = resolve_channel("host.metrics", {"host": "web1"})
    assert channel.key == "host.metrics?host=web1"
    assert [s.subject for s in channel.sources(Subjects("v"))] == ["v.metrics.host.web1"]
    with pytest.raises(InvalidName):
        resolve_channel("host.metrics", {"host": "web1.*"})
    with pytest.raises(UnknownChannel, match="unknown parameter 'pod'"):
        resolve_channel("host.metrics", {"pod": "x"})
    with pytest.raises(UnknownChannel, match="no such channel"):
        resolve_channel("host.*")
