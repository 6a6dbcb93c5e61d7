"""A deploy's journal: on `deploy.{id}.events`, one `DeployEvent` per step started,
progressed (an image pull's layers), finished, skipped or failed, with the state the
deploy is in after it."""

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from vigil.model import Message
from vigil.names import ClusterName, DeployId


class DeployState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in {DeployState.SUCCEEDED, DeployState.FAILED, DeployState.CANCELLED}


class DeployStep(StrEnum):
    QUEUE = "queue"
    VALIDATE = "validate"
    PULL = "pull"
    CREATE = "create"
    START = "start"
    HEALTH = "health"
    CONFIRM = "confirm"
    SWITCH = "switch"
    CLEANUP = "cleanup"
    ROLLBACK = "rollback"
    DONE = "done"


class StepState(StrEnum):
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"
    SKIPPED = "skipped"
    FAILED = "failed"


class LayerProgress(Message):
    id: str
    status: str = Field(description="Docker's word: Downloading, Extracting, Pull complete…")
    current: int = Field(default=0, ge=0, description="Bytes downloaded.")
    total: int | None = Field(default=None, description="Bytes in the layer, once known.")
    percent: float = Field(ge=0, le=100)


class PullProgress(Message):
    layers: list[LayerProgress]
    current: int = Field(description="Bytes downloaded over every layer of known size.")
    total: int = Field(description="Bytes of every layer whose size is known.")
    percent: float = Field(
        ge=0, le=100, description="The mean of the layers' percents; it never goes back."
    )


class DeployEvent(Message):
    """On `deploy.{id}.events`: one step of a deploy started, progressed, finished,
    was skipped or failed; `state` is the deploy's state after it."""

    deploy_id: DeployId
    cluster: ClusterName | None = Field(
        default=None,
        description="The Kubernetes cluster the deploy changes (none for Docker): whose it is.",
    )
    step: DeployStep
    status: StepState
    state: DeployState
    message: str = Field(max_length=4000)
    progress: PullProgress | None = None
    percent: float | None = Field(default=None, description="The step's progress, 0-100.")
    worker: str | None = Field(default=None, description="The deployer replica.")
    time: datetime
