"""How long to wait before restarting a process that died."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential: `initial`, twice that, four times... capped at `maximum` seconds.

    A process that ran for `reset_after` seconds or more before it died counts as
    having been healthy: its next restart starts again from `initial`.
    """

    initial: float = 1.0
    maximum: float = 30.0
    reset_after: float = 30.0

    def delay(self, failures: int) -> float:
        """The wait before restart number `failures + 1` of a run of quick deaths."""
        return float(min(self.initial * 2 ** min(failures, 64), self.maximum))
