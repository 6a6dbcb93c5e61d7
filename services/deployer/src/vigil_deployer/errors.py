"""Errors of the deployer.

DeployerError              root of the service's exceptions
├── StepFailed             a step of a deploy failed; the deploy ends failed, rolled back
│   └── HealthFailed       the new container did not become healthy in time, or exited
├── Declined               the user said no to the switch (or never answered)
└── LeaseLost              another replica took this deploy over: stop touching it

(a lost race on a KV record is the shared library's `vigil.errors.RevisionConflict`)
"""


class DeployerError(Exception):
    """Root of the deployer's exceptions."""


class StepFailed(DeployerError):
    """A step failed: `reason` says why in a line; `output` is what the new container
    said last, when it may tell more. The failed step's journal event and the record
    say both (`said`); the rollback and the deploy's end repeat the reason only."""

    def __init__(self, step: str, reason: str, *, output: str = "") -> None:
        self.step = step
        self.reason = reason
        self.output = output
        super().__init__(f"{step}: {self.said}")

    @property
    def said(self) -> str:
        return f"{self.reason}; its last output: {self.output}" if self.output else self.reason


class HealthFailed(StepFailed):
    def __init__(self, reason: str, *, output: str = "") -> None:
        super().__init__("health", reason, output=output)


class Declined(DeployerError):
    """The switch was not confirmed: `timed_out` tells a silence from a no."""

    def __init__(self, reason: str, *, timed_out: bool) -> None:
        self.reason = reason
        self.timed_out = timed_out
        super().__init__(reason)


class LeaseLost(DeployerError):
    def __init__(self, deploy_id: str, worker: str | None) -> None:
        self.deploy_id = deploy_id
        self.worker = worker
        super().__init__(f"deploy {deploy_id} is now held by {worker or 'nobody'}")
