"""Where a cursor goes on, and whether it is past the stream's window: one answer for
a feed that starts again, a socket that catches up, and a poll.

A cursor is the JetStream sequence of the last message a client got (or a feed
delivered). Reading goes on after it while the stream still holds what follows it.
When the stream no longer does (aged out or purged: `cursor + 1 < first`), or began
again (`cursor > last`), the client is told `reset` and reading goes on from the
oldest message kept.
"""

from dataclasses import dataclass

from nats.js import JetStreamContext

from vigil.messages import Reset


@dataclass(frozen=True)
class Window:
    """What a stream holds now: its name, its oldest and newest sequences."""

    stream: str
    first: int
    last: int


@dataclass(frozen=True)
class Resume:
    """Where reading goes on: after `after`; `reset` if the cursor was past the window."""

    after: int
    reset: bool


def reset_of(channel: str, cursor: int, window: Window) -> Reset:
    """What a client whose `cursor` was past the window is told: delivery goes on from
    the oldest message kept."""
    return Reset(channel=channel, since=cursor, first_cursor=window.first)


async def window_of(js: JetStreamContext, subject: str) -> Window:
    """The window of the stream that holds `subject` (raises `nats.errors.Error`)."""
    stream = await js.find_stream_name_by_subject(subject)
    state = (await js.stream_info(stream)).state
    return Window(stream, state.first_seq, state.last_seq)


def resume(cursor: int, window: Window, *, began_again: bool = True) -> Resume:
    """Where reading after `cursor` goes on in `window`: after the cursor, or just before
    the oldest message kept (`reset`) if what follows the cursor aged out, or, unless
    `began_again` is False (a cursor read from this stream a moment ago), if the stream
    began again."""
    if cursor + 1 < window.first or (began_again and cursor > window.last):
        return Resume(max(window.first, 1) - 1, reset=True)  # an empty stream's first is 0
    return Resume(cursor, reset=False)
