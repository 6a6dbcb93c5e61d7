"""Errors of the shared library.

VigilError                 root of everything the library raises
├── InvalidName            a name from outside does not fit its pattern
├── UnknownChannel         a client asked for a channel that does not exist
├── BusUnavailable         NATS could not be reached or did not answer in time
│   └── NoResponder        nobody subscribes to a request's subject (no replica of a host)
├── StreamsMissing         streams a service needs are not made yet (the provisioner's job)
└── RevisionConflict       a revision-checked write to a KV bucket lost a race
"""


class VigilError(Exception):
    """Root of the library's exceptions."""


class InvalidName(VigilError, ValueError):
    """A name from outside (host, container, cluster...) that must not reach a subject."""

    def __init__(self, kind: str, value: object, reason: str) -> None:
        self.kind = kind
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {kind} {value!r}: {reason}")


class UnknownChannel(VigilError, ValueError):
    """A channel name, or a parameter of it, that the contract does not define."""

    def __init__(self, channel: str, reason: str) -> None:
        self.channel = channel
        self.reason = reason
        super().__init__(f"channel {channel!r}: {reason}")


class BusUnavailable(VigilError):
    """NATS could not be reached, or did not answer in time; the caller decides whether
    to retry."""

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"could not {action}: {reason}")


class NoResponder(BusUnavailable):
    """NATS says nobody listens on the subject of a request: e.g. no deployer serves the
    host a routed request is for."""


class RevisionConflict(VigilError):
    """Someone else wrote `key` since we read it (or created it first)."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(f"{bucket}/{key} was changed by someone else")


class StreamsMissing(VigilError):
    """Streams or buckets a service needs are not there yet: the provisioner makes them."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(
            f"{', '.join(names)} not provisioned yet (`vigil up` or compose's setup job makes them)"
        )
