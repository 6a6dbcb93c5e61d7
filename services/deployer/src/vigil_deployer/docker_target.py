"""Deploys to a Docker engine: pull, create, start, health, switch by name, roll back.

The service's container is named after the service. A deploy creates the new container
beside it as `{name}--{deploy}`; `recreate` stops the old one before starting the new
(their ports may clash: `start_interrupts`, so a confirmation is asked before that),
`start-first` starts the new one while the old one serves
(host ports must then be chosen by Docker). The switch renames the old container
aside and gives the new one the service's name (start-first also stops the old one
then); clean-up removes the old one. Rolling back removes the new container, gives
the old one its name back and starts it if it had been running.

The new container has no restart policy until the switch gives it the spec's: one
that exits before has failed, and Docker running it again would only repeat that.

Every Docker call blocks, so each runs in a worker thread (`asyncio.to_thread`).
A little over 400 lines, kept whole: each step and what `roll_back` undoes of it are
read side by side.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import docker.errors
import httpx
from docker.models.containers import Container
from docker.utils import parse_repository_tag

from vigil.messages import DeploySpec, DockerHealth, HttpHealth, RunningHealth, Strategy, TcpHealth
from vigil_deployer import health
from vigil_deployer.errors import HealthFailed, StepFailed
from vigil_deployer.pull import PullTracker, size
from vigil_deployer.settings import DeployerSettings
from vigil_deployer.target import ReportProgress, SaveState

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE_LABEL = "vigil.deploy.service"
DEPLOY_LABEL = "vigil.deploy.id"
_POLL_S = 0.25
_PULL_STOP_WAIT_S = 5.0


class DockerTarget:
    kind = "docker"

    def __init__(self, settings: DeployerSettings) -> None:
        self.settings = settings
        # For HTTP health checks: no kept-alive connections, each probe closes its own,
        # so none is left open to a container after it is gone.
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
        self._client: docker.DockerClient | None = None
        self._connecting = asyncio.Lock()

    async def connect(self) -> docker.DockerClient:
        """The engine's client, made at first use (it asks the engine for its API
        version, so the deployer starts, and says why deploys fail, without Docker)."""
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await asyncio.to_thread(self._make_client)
                except docker.errors.DockerException as exc:
                    raise StepFailed("validate", f"Docker is unreachable: {exc}") from None
            return self._client

    def _make_client(self) -> docker.DockerClient:
        timeout = int(self.settings.docker_timeout_s)
        if self.settings.docker_url:
            return docker.DockerClient(base_url=self.settings.docker_url, timeout=timeout)
        return docker.from_env(timeout=timeout)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            raise RuntimeError("DockerTarget.connect() comes first")
        return self._client

    def rollout(
        self, deploy_id: str, spec: DeploySpec, state: dict[str, Any], save: SaveState
    ) -> "DockerRollout":
        return DockerRollout(self, deploy_id, spec, state, save)

    async def close(self) -> None:
        await self.http.aclose()
        if self._client is not None:
            await asyncio.to_thread(self._client.close)


class DockerRollout:
    def __init__(
        self,
        target: DockerTarget,
        deploy_id: str,
        spec: DeploySpec,
        state: dict[str, Any],
        save: SaveState,
    ) -> None:
        self._target = target
        self._settings = target.settings
        self._id = deploy_id
        self._spec = spec
        self._save = save
        # What rolling back needs, kept in the deploy record through `save`.
        self._state: dict[str, Any] = {
            "old_id": None,  # the container that served before
            "old_running": False,  # ... and whether it was running
            "old_stopped": False,  # we stopped it
            "old_renamed": False,  # we renamed it aside
            "new_id": None,  # the container this deploy created
            **state,
        }

    @property
    def _client(self) -> docker.DockerClient:
        return self._target.client

    @property
    def _candidate_name(self) -> str:
        return f"{self._spec.name}--{self._id[:16]}"

    @property
    def _aside_name(self) -> str:
        return f"{self._spec.name}--old-{self._id[:16]}"

    async def _set(self, **changes: Any) -> None:
        self._state.update(changes)
        await self._save(dict(self._state))

    # -- steps --------------------------------------------------------------------

    async def validate(self) -> str:
        await self._target.connect()
        await self._call("validate", self._client.ping)
        old = await self._find(self._spec.name)
        if old is None:
            await self._set(old_id=None, old_running=False)
            return f"no container {self._spec.name!r} yet: this is its first deploy"
        running = old.status in {"running", "restarting"}
        await self._set(old_id=old.id, old_running=running)
        now = f"{self._spec.name!r} is {old.short_id} ({old.status})"
        if not running:
            return f"{now}; it is replaced at the switch"
        if not self.start_interrupts:
            return f"{now}; it keeps serving until the switch"
        if self._spec.confirm:
            return (
                f"{now}; it keeps serving until the switch is confirmed, "
                "then recreate stops it and starts the new one"
            )
        return f"{now}; recreate stops it just before the new one starts"

    @property
    def start_interrupts(self) -> bool:
        return self._spec.strategy is Strategy.RECREATE and bool(self._state["old_running"])

    async def pull(self, report: ReportProgress) -> str | None:
        image = self._spec.image
        if self._spec.pull == "missing" and await self._image_present(image):
            return None
        tracker = PullTracker()
        stop = threading.Event()
        pulling = asyncio.ensure_future(asyncio.to_thread(self._pull_blocking, tracker, stop))
        try:
            while not pulling.done():
                await asyncio.wait({pulling}, timeout=self._settings.progress_interval_s)
                if (snapshot := tracker.take()) is not None and not pulling.done():
                    await report(snapshot)
            pulling.result()
        finally:
            if not pulling.done():  # cancelled: let the thread see it and let go
                stop.set()
                with contextlib.suppress(BaseException):
                    await asyncio.wait({pulling}, timeout=_PULL_STOP_WAIT_S)
        final = tracker.final()
        await report(final)
        return f"pulled {image}: {len(final.layers)} layers, {size(final.total)}"

    def _pull_blocking(self, tracker: PullTracker, stop: threading.Event) -> None:
        repository, tag = parse_repository_tag(self._spec.image)
        try:
            stream = self._client.api.pull(
                repository, tag=tag or "latest", stream=True, decode=True
            )
            try:
                for chunk in stream:
                    tracker.feed(chunk)
                    if stop.is_set():
                        return
            finally:
                stream.close()
        except docker.errors.APIError as exc:
            raise StepFailed("pull", _explain(exc)) from None
        except docker.errors.DockerException as exc:  # requests' errors come wrapped
            raise StepFailed("pull", str(exc)[:1000]) from None

    async def create(self) -> str:
        spec = self._spec
        # A candidate left by an earlier try of this same deploy goes first.
        if (stale := await self._find(self._candidate_name)) is not None:
            await self._call("create", stale.remove, force=True)
        kwargs: dict[str, Any] = {
            "name": self._candidate_name,
            "command": spec.argv(),  # secrets in clear here only, never in what we say
            "environment": spec.env,
            "labels": {**spec.labels, SERVICE_LABEL: spec.name, DEPLOY_LABEL: self._id},
            "ports": {
                f"{p.container_port}/{p.protocol}": (p.host_ip, p.host_port or None)
                for p in spec.ports
            },
            "volumes": {
                v.source: {"bind": v.target, "mode": "ro" if v.read_only else "rw"}
                for v in spec.volumes
            },
            # On probation until the switch: a new container that exits has failed, and
            # Docker restarting it would only run (and print) the failure again.
            "restart_policy": {"Name": ""},
            "detach": True,
        }
        if isinstance(spec.health, DockerHealth):
            kwargs["healthcheck"] = health.healthcheck_config(spec.health)
        container = await self._call("create", self._client.containers.create, spec.image, **kwargs)
        await self._set(new_id=container.id)
        return f"created {container.short_id} as {self._candidate_name!r}"

    async def start(self) -> str:
        done = []
        if self.start_interrupts:
            old = await self._get(self._state["old_id"])
            if old is not None:
                await self._set(old_stopped=True)
                await self._call("start", old.stop, timeout=self._settings.stop_timeout_s)
                done.append(f"stopped the old container {old.short_id}")
        new = await self._require_new("start")
        await self._call("start", new.start)
        done.append(f"started {new.short_id}")
        return "; ".join(done)

    async def wait_healthy(self) -> str:
        check = self._spec.health
        new = await self._require_new("health")
        deadline = time.monotonic() + check.timeout_s
        running_since: float | None = None
        last_problem = "no answer yet"
        while True:
            await self._call("health", new.reload)
            attrs = new.attrs
            state = attrs.get("State") or {}
            if state.get("Status") in {"exited", "dead"} or state.get("Restarting"):
                raise await self._exited(new, attrs)
            now = time.monotonic()
            running_since = running_since or now
            problem = await self._probe(check, attrs, now - running_since)
            if problem == "":
                return f"healthy: {health.describe(check)}"
            last_problem = problem
            if now >= deadline:
                raise HealthFailed(
                    f"not healthy within {check.timeout_s:g} s ({health.describe(check)}): "
                    f"{last_problem}"
                )
            await asyncio.sleep(_POLL_S)

    async def _probe(self, check: health.Check, attrs: dict[str, Any], up_s: float) -> str:
        """'' when healthy now, else why not."""
        if isinstance(check, RunningHealth):
            return "" if up_s >= check.seconds else f"running for {up_s:.1f} s"
        if isinstance(check, DockerHealth):
            status = health.docker_health(attrs)
            if status is None:
                raise HealthFailed("the image has no HEALTHCHECK and the spec gives no test")
            if status == "unhealthy":
                raise HealthFailed("Docker's healthcheck says unhealthy")
            return "" if status == "healthy" else f"Docker's healthcheck says {status}"
        assert isinstance(check, TcpHealth | HttpHealth)
        address = health.address_of(attrs, check.port, self._settings.docker_address)
        if address is None:
            return f"port {check.port} is not reachable (not published, no address)"
        if isinstance(check, TcpHealth):
            answered = await health.tcp_answers(address)
            return "" if answered else f"nothing accepts connections on {address[0]}:{address[1]}"
        return await health.http_answers(self._target.http, address, check.path)

    async def switch(self) -> str:
        new = await self._require_new("switch")
        done = []
        if self._spec.restart_policy != "no":  # it passed: from now on as the spec says
            policy = {"Name": self._spec.restart_policy}
            await self._call("switch", new.update, restart_policy=policy)
        old = await self._get(self._state["old_id"])
        if old is not None:
            if self._spec.strategy is Strategy.START_FIRST and self._state["old_running"]:
                await self._set(old_stopped=True)
                await self._call("switch", old.stop, timeout=self._settings.stop_timeout_s)
                done.append(f"stopped the old container {old.short_id}")
            await self._set(old_renamed=True)
            await self._call("switch", old.rename, self._aside_name)
        await self._call("switch", new.rename, self._spec.name)
        done.append(f"{new.short_id} is now {self._spec.name!r}")
        return "; ".join(done)

    async def clean_up(self) -> str:
        old = await self._get(self._state["old_id"])
        if old is None:
            return "nothing to clean up"
        await self._call("cleanup", old.remove, force=True)
        return f"removed the old container {old.short_id}"

    async def roll_back(self) -> str:
        """Remove what this deploy created; the old container gets its name back and
        runs again if it ran before. Each part is tried even when another fails."""
        done: list[str] = []
        problems: list[str] = []
        await self._target.connect()
        new = await self._get(self._state["new_id"])
        if new is not None:
            try:
                await self._call("rollback", new.remove, force=True)
                done.append(f"removed the new container {new.short_id}")
            except StepFailed as exc:
                problems.append(exc.reason)
        old = await self._get(self._state["old_id"])
        if old is not None:
            try:
                if old.name != self._spec.name:
                    await self._call("rollback", old.rename, self._spec.name)
                    done.append(f"{old.short_id} is {self._spec.name!r} again")
                await self._call("rollback", old.reload)
                if self._state["old_running"] and old.status != "running":
                    await self._call("rollback", old.start)
                    done.append(f"restarted the old container {old.short_id}")
            except StepFailed as exc:
                problems.append(exc.reason)
        elif self._state["old_id"]:
            problems.append(f"the old container {self._state['old_id'][:12]} is gone")
        if problems:
            raise StepFailed("rollback", "; ".join(problems))
        return "; ".join(done) or "nothing to undo"

    # -- plumbing -----------------------------------------------------------------

    async def _call(self, step: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except docker.errors.APIError as exc:
            raise StepFailed(step, _explain(exc)) from None
        except docker.errors.DockerException as exc:
            raise StepFailed(step, f"Docker: {str(exc)[:500]}") from None
        except OSError as exc:
            raise StepFailed(step, f"Docker is unreachable: {exc}") from None

    async def _find(self, name: str) -> Container | None:
        """The container of exactly this name (Docker's filter matches substrings)."""
        found = await self._call(
            "validate", self._client.containers.list, all=True, filters={"name": f"^/{name}$"}
        )
        return next((c for c in found if c.name == name), None)

    async def _get(self, container_id: str | None) -> Container | None:
        if not container_id:
            return None
        try:
            return await asyncio.to_thread(self._client.containers.get, container_id)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise StepFailed("inspect", _explain(exc)) from None

    async def _require_new(self, step: str) -> Container:
        new = await self._get(self._state["new_id"])
        if new is None:
            raise StepFailed(step, "the new container is gone")
        return new

    async def _image_present(self, image: str) -> bool:
        try:
            await asyncio.to_thread(self._client.images.get, image)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            raise StepFailed("pull", _explain(exc)) from None
        return True

    async def _exited(self, container: Container, attrs: dict[str, Any]) -> HealthFailed:
        """Why the new container stopped: its exit code and its last lines (of its one
        run: it is not restarted before the switch)."""
        state = attrs.get("State") or {}
        error = f" ({state['Error']})" if state.get("Error") else ""
        reason = f"the new container exited with code {state.get('ExitCode')}{error}"
        try:
            tail = await asyncio.to_thread(container.logs, tail=5)
        except docker.errors.APIError:
            tail = b""
        return HealthFailed(reason, output=tail.decode(errors="replace").strip()[-500:])


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)[:1000]
