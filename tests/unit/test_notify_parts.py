"""The notifier's pure parts: payload templates, masking, filters, delivery keys."""

import json
from datetime import UTC, datetime

import pytest

from vigil.messages import (
    Acknowledgement,
    AlertChanged,
    AlertState,
    ChannelFilter,
    ProposalDone,
    ProposedAction,
)
from vigil_notifier import apprise_target, template
from vigil_notifier.delivery import title_of
from vigil_notifier.errors import InvalidChannel
from vigil_notifier.markers import delivery_key
from vigil_notifier.masking import mask_webhook_url, scrub, secret_pieces
from vigil_notifier.matching import matches

ALERT = AlertChanged(
    id="host:web1:disk:/var",
    state=AlertState.RAISED,
    source="host",
    host="web1",
    metric="disk:/var",
    value=93.5,
    threshold=90.0,
    time=datetime(2026, 12, 6, 6, 0, tzinfo=UTC),
    message="disk /var at 93.5 %",
)


def test_a_template_fills_fields_keeping_the_type_of_a_whole_placeholder() -> None:
    text = '{"text": "{{ id }} {{state}} on {{host}}", "v": "{{value}}", "c": ["{{cluster}}"]}'
    body = json.loads(template.render(text, ALERT, "ops"))
    assert body == {"text": "host:web1:disk:/var raised on web1", "v": 93.5, "c": [None]}


def test_no_template_sends_the_alert_and_the_channel() -> None:
    body = json.loads(template.render(None, ALERT, "ops"))
    assert body["channel"] == "ops"
    assert AlertChanged.model_validate(body["alert"]) == ALERT


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": ', "not JSON"),
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": "{{password}}"}', "unknown field {{password}}"),
        ("[" * 40 + "]" * 40, "nested deeper"),
        ("[" * 8000 + "]" * 8000, "nested deeper"),  # past the JSON parser's own limit
    ],
)
def test_a_bad_template_is_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidChannel, match=r"target\.template") as refused:
        template.parse(text)
    assert reason in refused.value.reason


def test_a_webhook_url_keeps_only_where_it_goes() -> None:
    url = "https://user:pw@hooks.slack.com:8443/services/T000/B000/XXXX?token=abc"
    assert mask_webhook_url(url) == "https://hooks.slack.com:8443/***"
    assert mask_webhook_url("http://example.com") == "http://example.com"
    assert mask_webhook_url("http://[::1") == "***"


def test_secrets_are_scrubbed_from_text() -> None:
    url = "https://hooks.example.com/services/T0KEN123?key=query-secret"
    text = f"POST {url} failed: 'T0KEN123' refused, key query-secret"
    scrubbed = scrub(text, secret_pieces(url, "hmac-secret"))
    assert "T0KEN123" not in scrubbed
    assert "query-secret" not in scrubbed
    assert scrubbed.startswith("POST ***")


def test_a_filter_picks_by_source_state_and_id_glob() -> None:
    assert matches(ChannelFilter(), ALERT)
    assert matches(ChannelFilter(sources=["host"], alert_ids="host:*:disk:*"), ALERT)
    assert not matches(ChannelFilter(sources=["k8s"]), ALERT)
    assert not matches(ChannelFilter(states=[AlertState.RESOLVED]), ALERT)
    assert not matches(ChannelFilter(alert_ids="host:web?:cpu"), ALERT)
    assert matches(ChannelFilter(alert_ids="host:web?:disk:/var"), ALERT)
    assert not matches(ChannelFilter(alert_ids="host:web1"), ALERT)  # the whole id


def test_a_delivery_is_named_by_transition_and_channel() -> None:
    key = delivery_key(ALERT, "0123456789abcdef")
    assert key == delivery_key(ALERT.model_copy(), "0123456789abcdef")
    resolved = ALERT.model_copy(update={"state": AlertState.RESOLVED})
    assert delivery_key(resolved, "0123456789abcdef") != key
    assert delivery_key(ALERT, "fedcba9876543210") != key
    raised_again = ALERT.model_copy(update={"time": datetime(2026, 12, 6, 7, 0, tzinfo=UTC)})
    assert delivery_key(raised_again, "0123456789abcdef") != key
    assert all(char.isalnum() or char == "_" for char in key)


def test_an_apprise_url_is_masked_by_apprise_and_a_plain_http_one_as_a_webhook() -> None:
    mail = apprise_target.mask("mailto://vigil:pa55word@mail.example.com")
    assert mail.startswith("mailto://vigil:****@mail.example.com")
    discord = apprise_target.mask("discord://1234/Tok3nVeryS3cret")
    assert "Tok3nVeryS3cret" not in discord
    plain = apprise_target.mask("json://hooks.example.com/T0KEN-path?x=1")
    assert plain == "json://hooks.example.com/***"


def test_a_transition_is_titled_by_what_happened() -> None:
    later = datetime(2026, 12, 6, 6, 5, tzinfo=UTC)
    acknowledged = ALERT.model_copy(
        update={"acknowledged": Acknowledgement(by="otto", note="", time=later), "time": later}
    )
    proposal = ProposedAction(
        id="a" * 16, action="restart", host="web1", container="c" * 64, name="api"
    )
    acted = acknowledged.model_copy(
        update={
            "proposal": proposal.model_copy(update={"done": ProposalDone(by="otto", time=later)})
        }
    )
    resolved = acknowledged.model_copy(update={"state": AlertState.RESOLVED})
    assert [title_of(a).split()[0] for a in (ALERT, acknowledged, acted, resolved)] == [
        "[RAISED]",
        "[ACKNOWLEDGED]",
        "[ACTED]",
        "[RESOLVED]",
    ]
    # an acknowledgement after the action is one again
    again = acted.model_copy(update={"time": datetime(2026, 12, 6, 6, 9, tzinfo=UTC)})
    assert title_of(again).startswith("[ACKNOWLEDGED]")
