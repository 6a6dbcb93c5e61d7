"""How long to wait before reconnecting: seed 001's 2, 5, 10, 30 s, with jitter.

Jitter spreads the clients of a restarted gateway over time, so they do not all come
back in the same instant (a thundering herd).
"""

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    steps: tuple[float, ...] = (2.0, 5.0, 10.0, 30.0)
    """The waits after the 1st, 2nd, 3rd... failure in a row; the last one repeats."""
    jitter: float = 0.25
    """Each wait is moved at random by up to this share of it, either way."""
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.steps or min(self.steps) < 0:
            raise ValueError("backoff steps are one or more waits of 0 s or more")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a share of the wait: 0 <= jitter < 1")

    def base(self, failures: int) -> float:
        """The wait before retry number `failures` (1 = after the first failure)."""
        return self.steps[min(max(failures, 1), len(self.steps)) - 1]

    def delay(self, failures: int) -> float:
        base = self.base(failures)
        return base * (1 + self.rng.uniform(-self.jitter, self.jitter))
