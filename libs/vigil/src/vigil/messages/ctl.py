"""The envelope of every ctl reply (`vigil.ctl`): what a service answers a request on
`ctl.*` with, its data on success or, otherwise, the failure (an `ErrorCode` and why)."""

from typing import Any

from vigil.messages.common import ErrorCode
from vigil.model import Message


class CtlFailure(Message):
    code: ErrorCode
    message: str
    retry_after_s: float | None = None


class CtlReply(Message):
    """The envelope of every ctl reply: `data` on success, `error` otherwise."""

    ok: bool
    data: dict[str, Any] | None = None
    error: CtlFailure | None = None
