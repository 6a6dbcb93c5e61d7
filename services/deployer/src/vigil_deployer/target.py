"""What a deploy target (Docker today, Kubernetes next) provides to the deployer.

`Execution` drives the steps in order and journals them; a `Rollout` does each step on
its target and knows how to undo what it did. What it must remember to undo after a
crash (container ids, names) it reports through `save`, which the journal writes to
the deploy record; a replica that takes over a dead one's deploy builds the rollout
again from that state and calls `roll_back`.
"""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from vigil.messages import DeploySpec, PullProgress

ReportProgress = Callable[[PullProgress], Awaitable[None]]
SaveState = Callable[[dict[str, Any]], Awaitable[None]]


class Rollout(Protocol):
    """One deploy on one target. Each step returns what happened, for the journal, or
    raises `StepFailed`."""

    async def validate(self) -> str: ...

    async def pull(self, report: ReportProgress) -> str | None:
        """Fetch what the deploy runs; None when it is there already (skipped)."""

    async def create(self) -> str: ...

    @property
    def start_interrupts(self) -> bool:
        """Whether `start` stops what serves now (Docker's `recreate` with the old
        container running): known after `validate`. A confirmation is then asked
        before `start`, not before the switch."""

    async def start(self) -> str: ...

    async def wait_healthy(self) -> str: ...

    async def switch(self) -> str: ...

    async def clean_up(self) -> str: ...

    async def roll_back(self) -> str:
        """Undo whatever was done so far: the previous version serves again."""


class Target(Protocol):
    kind: str

    def rollout(
        self, deploy_id: str, spec: DeploySpec, state: dict[str, Any], save: SaveState
    ) -> Rollout: ...

    async def close(self) -> None: ...
