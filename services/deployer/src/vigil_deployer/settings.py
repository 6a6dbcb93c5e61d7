"""Deployer settings, from `VIGIL_DEPLOYER_...` (shared ones from `VIGIL_...`)."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from vigil.names import HostName, default_host_id
from vigil.probe import ProbeSettings
from vigil.settings import exec_enabled_field, exec_idle_field, exec_window_field


class DeployerSettings(ProbeSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_DEPLOYER_")

    target: Literal["docker", "kubernetes"] = Field(
        default="docker", description="What this replica deploys to: a Docker host or a cluster."
    )
    host: HostName = Field(
        default_factory=default_host_id,
        description="The Docker host id this replica serves (as the collector names it), "
        "or with target kubernetes, the cluster id.",
    )
    kubeconfig: str | None = Field(
        default=None, description="Kubernetes: the kubeconfig (default: ~/.kube/config)."
    )
    k8s_context: str | None = Field(
        default=None, description="Kubernetes: the kubeconfig context (default: `host`)."
    )
    k8s_timeout_s: float = Field(
        default=60.0, gt=0, description="Kubernetes: until the controller sees a change."
    )
    docker_url: str | None = Field(
        default=None, description="The Docker engine (DOCKER_HOST and friends when unset)."
    )
    docker_address: str = Field(
        default="127.0.0.1",
        description="Where published ports of the Docker host are reached, for health checks.",
    )
    docker_timeout_s: float = Field(default=60.0, gt=0, description="Per Docker API call.")
    max_concurrent_deploys: int = Field(default=4, ge=1, le=64)
    lease_s: float = Field(
        default=15.0, ge=1, description="A worker that has not renewed for this long is dead."
    )
    sweep_interval_s: float = Field(
        default=5.0, gt=0, description="How often each replica looks for lapsed leases."
    )
    stop_timeout_s: int = Field(
        default=10, ge=0, le=300, description="SIGTERM to SIGKILL when stopping a container."
    )
    confirm_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=45,
        description="How long a destructive action (kill, remove, delete a pod) waits "
        "for its user's yes before it is declined.",
    )
    progress_interval_s: float = Field(
        default=0.25, gt=0, description="Pull progress is journaled at most this often."
    )
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="On SIGTERM, running deploys roll back within this."
    )
    exec_enabled: bool = exec_enabled_field()
    exec_idle_s: float = exec_idle_field()
    exec_record_input_bytes: int = Field(
        default=0,
        ge=0,
        le=65_536,
        description="Keep up to this much of what is typed into each shell, in its audit "
        "event `container.exec_input` (0: nothing; what is typed may hold a password).",
    )
    exec_window_bytes: int = exec_window_field(
        "Input a shell's gateway may send before this replica grants more."
    )

    @model_validator(mode="after")
    def _renewed_in_time(self) -> "DeployerSettings":
        if self.sweep_interval_s > self.lease_s:
            raise ValueError("sweep_interval_s must not exceed lease_s")
        return self
