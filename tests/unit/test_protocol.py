"""What a client sends is parsed strictly, and errors name what was wrong."""

import pytest

from vigil.messages import InvalidClientMessage, Ping, Subscribe, parse_client_message


def test_valid_messages_parse() -> None:
    assert isinstance(parse_client_message('{"type": "ping"}'), Ping)
    message = parse_client_message('{"type":"subscribe","channel":"alerts"}')
    assert isinstance(message, Subscribe)
    assert message.channel == "alerts"


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("not json", "Invalid JSON"),
        ("[1, 2]", "should be an object"),
        ('{"type": "launch"}', "'launch'"),
        ('{"channel": "alerts"}', "type"),
        ('{"type": "subscribe"}', "channel: Field required"),
        ('{"type": "subscribe", "channel": 5}', "channel: Input should be a valid string"),
        ('{"type": "subscribe", "channel": "a", "params": {"host": 1}}', "params.host"),
        ('{"type": "ping", "extra": true}', "extra: Extra inputs are not permitted"),
    ],
)
def test_invalid_messages_say_what_was_wrong(raw: str, complaint: str) -> None:
    with pytest.raises(InvalidClientMessage, match=complaint):
        parse_client_message(raw)
