"""Errors of the notifier.

NotifierError              root of the service's exceptions
├── InvalidChannel         a channel draft that cannot work: a bad URL or template
└── DeliveryFailed         one attempt to reach a channel failed (retried, then a dead letter)

(a lost race on a delivery marker is the shared library's `vigil.errors.RevisionConflict`)
"""


class NotifierError(Exception):
    """Root of the notifier's exceptions."""


class InvalidChannel(NotifierError, ValueError):
    """`field` of a channel draft is wrong: `reason` says how (no secret in it)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class DeliveryFailed(NotifierError):
    """An attempt failed; `reason` is safe to show and store (secrets masked)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
