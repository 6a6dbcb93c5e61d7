"""Collector settings, from `VIGIL_COLLECTOR_...` (shared ones from `VIGIL_...`)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from vigil.names import ClusterName, HostName, LogFileName, NamespaceName, default_host_id
from vigil.probe import ProbeSettings


class CollectorSettings(ProbeSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_COLLECTOR_")

    host: HostName = Field(default_factory=default_host_id)
    interval_s: float = Field(default=2.0, ge=0.1, le=3600)

    docker: Literal["auto", "on", "off"] = Field(
        default="auto",
        description=(
            "auto: follow the Docker engine once it answers (silent until then); "
            "on: also report it unavailable from the start; off: never."
        ),
    )
    docker_url: str | None = Field(
        default=None,
        description="The engine's API, e.g. unix:///var/run/docker.sock (DOCKER_HOST).",
    )
    docker_interval_s: float = Field(default=2.0, ge=0.1, le=3600)
    docker_timeout_s: float = Field(default=10.0, gt=0, description="Per Docker API call.")
    docker_stats_workers: int = Field(
        default=128,
        ge=1,
        le=512,
        description="Stats calls at once; each waits for the engine's next 1 s collection.",
    )
    docker_stats_reader: Literal["auto", "cgroup", "api"] = Field(
        default="auto",
        description=(
            "Where container stats come from. auto: the host's cgroup files when this"
            " collector can read the engine's (see cgroup_root, proc_root), else the API;"
            " cgroup or api: that one."
        ),
    )
    cgroup_root: Path = Field(
        default=Path("/sys/fs/cgroup"),
        description="The host's cgroup tree (in a container: mounted read-only elsewhere).",
    )
    proc_root: Path = Field(
        default=Path("/proc"),
        description="The host's /proc (in a container: mounted read-only, e.g. /host/proc).",
    )
    top_processes: int = Field(
        default=5,
        ge=0,
        le=50,
        description="The host's busiest processes by CPU and largest by memory, this many of "
        "each, in every host sample (a host alert's culprits), read under proc_root; 0: none.",
    )
    docker_retry_max_s: float = Field(default=30.0, gt=0, description="Backoff cap, engine down.")
    logs_tail: int = Field(default=100, ge=0, le=10_000, description="Lines sent first.")
    logs_batch_s: float = Field(default=0.1, gt=0, le=5, description="How often lines go out.")
    logs_max_line_bytes: int = Field(default=16_384, ge=256, description="Longer lines are cut.")
    logs_buffer_lines: int = Field(
        default=10_000, ge=100, description="Lines waiting per follower; then reading pauses."
    )
    logs_batch_max_lines: int = Field(
        default=1000, ge=1, le=100_000, description="Lines in one batch at most."
    )
    logs_batch_max_bytes: int = Field(
        default=512 * 1024, ge=1024, description="About this much text in one batch at most."
    )
    logs_finish_s: float = Field(
        default=10.0, gt=0, le=300, description="A stopped follower sends what it read within this."
    )
    journal: bool = Field(
        default=True, description="Serve the host's systemd journal (on lease); false: off."
    )
    journal_directory: Path | None = Field(
        default=None,
        description="Read the journal files in this directory (default: the system's journal).",
    )
    journalctl: str = Field(default="journalctl", description="The journalctl to run.")
    log_files: dict[LogFileName, Path] = Field(
        default_factory=dict,
        description=(
            "The log files clients may follow (on lease), by a short name, as JSON:"
            ' {"syslog": "/var/log/syslog"}; no other file is ever read. Rotation is'
            " followed (renamed and recreated, or copied and truncated)."
        ),
    )
    log_files_poll_s: float = Field(
        default=0.25, gt=0, le=5, description="How often a followed file is looked at."
    )
    redact_defaults: bool = Field(
        default=True,
        description="Redact URL passwords, bearer tokens, AWS keys, private keys and JWTs.",
    )
    redact_patterns: list[str] = Field(
        default_factory=list, description="More regular expressions whose matches are redacted."
    )
    logs_keep_label: str = Field(
        default="vigil.keep-logs=true",
        pattern=r"^([^=\s]+(=\S*)?)?$",
        description="Containers with this label (`key=value`, or `key` for any value) "
        "have their logs kept (LOGS_KEPT), followed whether or not anyone watches; "
        "empty: by label, none.",
    )
    logs_keep_all: bool = Field(
        default=False, description="Keep the logs of every container of this host."
    )
    k8s_logs_keep_namespaces: list[NamespaceName] = Field(
        default_factory=list,
        description="Keep the logs of every pod in these namespaces (of every cluster "
        "followed); elsewhere, of the pods with `logs_keep_label`.",
    )

    kubeconfig: str | None = Field(
        default=None,
        description="Follow the Kubernetes clusters of this kubeconfig (each context is one).",
    )
    k8s_contexts: list[ClusterName] = Field(
        default_factory=list, description="Only these contexts of the kubeconfig (default: all)."
    )
    k8s_in_cluster: ClusterName | None = Field(
        default=None, description="Follow the cluster this runs in, under this cluster id."
    )
    k8s_interval_s: float = Field(
        default=10.0, ge=0.5, le=3600, description="Seconds between pod metrics batches."
    )
    k8s_timeout_s: float = Field(default=10.0, gt=0, description="Per Kubernetes API call.")
    k8s_alert_log_lines: int = Field(
        default=20,
        ge=0,
        le=200,
        description="A pod's alert carries its last this many log lines (redacted); 0: none.",
    )
    k8s_lease_s: float = Field(
        default=15.0,
        ge=1,
        le=300,
        description="A collector silent this long loses its clusters to another replica.",
    )
    k8s_retry_max_s: float = Field(default=30.0, gt=0, description="Backoff cap, API down.")

    @field_validator("log_files")
    @classmethod
    def _absolute(cls, files: dict[str, Path]) -> dict[str, Path]:
        for name, path in files.items():
            if not path.is_absolute():
                raise ValueError(f"log file {name}: {path} is not an absolute path")
        return files

    @field_validator("interval_s")
    @classmethod
    def _round(cls, value: float) -> float:
        return round(value, 3)
