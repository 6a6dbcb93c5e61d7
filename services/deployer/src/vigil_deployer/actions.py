"""The handlers of `vigil.operations.Actions`: an action on a container of this
replica's Docker host, or on a workload of its cluster.

Only the replicas serving the request's host (or cluster) receive it (its subject ends
with that name). Each request carries its user's token, verified before a handler runs
(operator role); each handler checks the user's grant of the host or cluster itself
(`grants`). A
destructive action (`DESTRUCTIVE`) finds its object first (an unknown one is
NOT_FOUND before anything is asked), then asks its user (`confirmation.ask_to_act`): a no
or no answer in time does nothing and answers `declined`. So does an action an alert
proposed (`alert`: the alerter carries out a proposal its user confirmed), whatever it is;
its audit event names the alert.

Each request is one event in the audit trail: `container.<action>` or
`k8s.<action>`, done, failed (the engine or API server said no) or refused (no grant,
or declined), with its actor and target.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import docker.errors
import requests
from docker.models.containers import Container

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.messages import (
    DESTRUCTIVE,
    ActOnContainer,
    ActOnWorkload,
    AuditOutcome,
    ContainerActed,
    ContainerAction,
    ContainerState,
    ErrorCode,
    WorkloadActed,
    WorkloadAction,
    utc_now,
)
from vigil_deployer.confirmation import ask_to_act
from vigil_deployer.docker_target import DEPLOY_LABEL
from vigil_deployer.errors import Declined, StepFailed
from vigil_deployer.grants import check_grant
from vigil_deployer.settings import DeployerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class ContainerActions:
    """Actions on the containers of this replica's Docker host."""

    def __init__(
        self,
        bus: Bus,
        settings: DeployerSettings,
        connect: Callable[[], Any],
        trail: AuditTrail,
    ) -> None:
        self._bus = bus
        self._settings = settings
        self._connect = connect  # DockerTarget.connect: the engine's client, made once
        self._trail = trail

    async def act(self, request: ActOnContainer, caller: Principal) -> ContainerActed:
        action, host = request.action, request.host
        audited = f"container.{action}"
        target = f"container {host}/{request.container}"
        check_grant(self._trail, caller, audited, host, "host", target)
        try:
            client: docker.DockerClient = await self._connect()
        except StepFailed as exc:
            self._trail.record(
                audited, AuditOutcome.FAILED, caller, target=target, detail=exc.reason
            )
            raise Refused(ErrorCode.UNAVAILABLE, f"{host}: {exc.reason}") from None
        try:
            container = await find_container(client, host, request.container)
            target = f"container {host}/{container.name}"
            if action in DESTRUCTIVE or request.alert is not None:
                try:
                    await self._ask(request, container, caller)
                except Declined as exc:
                    self._trail.refused(audited, caller, exc.reason, target=target)
                    return _acted(request, container, "declined", exc.reason)
            detail = await self._engine(self._do, container, request)
        except Refused as exc:
            self._trail.record(
                audited, AuditOutcome.FAILED, caller, target=target, detail=exc.message
            )
            raise
        self._trail.record(
            audited, AuditOutcome.DONE, caller, target=target, detail=_proposed(detail, request)
        )
        acted = _acted(request, container, "done", detail)
        if action is ContainerAction.REMOVE:
            return acted.model_copy(update={"state": ContainerState.REMOVED})
        return acted

    async def deploy_of(self, container: str) -> str | None:
        """The deploy that started `container` (its full id or name; its label), None
        when no deploy did; `Refused` NOT_FOUND when the engine has no such container."""
        try:
            client: docker.DockerClient = await self._connect()
        except StepFailed as exc:
            raise Refused(ErrorCode.UNAVAILABLE, f"{self._settings.host}: {exc.reason}") from None
        found = await self._engine(client.containers.get, container)
        return (found.labels or {}).get(DEPLOY_LABEL)

    async def _ask(self, request: ActOnContainer, container: Container, caller: Principal) -> None:
        what = {
            ContainerAction.KILL: f"Send {request.signal or 'SIGKILL'} to",
            ContainerAction.REMOVE: "Remove"
            + (" (and its anonymous volumes)" if request.volumes else ""),
        }.get(request.action, str(request.action).capitalize())
        data = {
            "action": str(request.action),
            "host": request.host,
            "container": container.id,
            "name": container.name,
            "answer": {"confirm": f"true to {request.action}, false to leave it"},
        }
        await ask_to_act(
            self._bus,
            caller,
            f"{what} container {container.name} on {request.host}?",
            data,
            self._settings.confirm_timeout_s,
            f"to {request.action} {container.name}",
            request.alert,
        )

    def _do(self, container: Container, request: ActOnContainer) -> str:
        """Blocking: the action, then what it left (the container's state)."""
        wait = self._settings.stop_timeout_s if request.timeout_s is None else request.timeout_s
        match request.action:
            case ContainerAction.START:
                container.start()
            case ContainerAction.STOP:
                container.stop(timeout=wait)
            case ContainerAction.RESTART:
                container.restart(timeout=wait)
            case ContainerAction.KILL:
                container.kill(signal=request.signal or "SIGKILL")
            case ContainerAction.PAUSE:
                container.pause()
            case ContainerAction.UNPAUSE:
                container.unpause()
            case ContainerAction.REMOVE:
                container.remove(v=request.volumes, force=request.force)
                return "removed" + (" with its anonymous volumes" if request.volumes else "")
        container.reload()
        return str(container.status)

    async def _engine(self, call: Callable[..., T], *args: Any) -> T:
        return await on_engine(self._settings.host, call, *args)


async def find_container(client: docker.DockerClient, host: str, asked: str) -> Container:
    """The container of `host` that `asked` names for sure (`_named`), or NOT_FOUND."""
    container = await on_engine(host, client.containers.get, asked)
    if not _named(container, asked):
        raise Refused(
            ErrorCode.NOT_FOUND, f"{host}: no container named {asked!r} (or with that id)"
        )
    return container


async def on_engine(host: str, call: Callable[..., T], *args: Any) -> T:
    """`call` in a worker thread, the engine of `host`'s refusals as `Refused`."""
    try:
        return await asyncio.to_thread(call, *args)
    except docker.errors.NotFound as exc:
        raise Refused(ErrorCode.NOT_FOUND, f"{host}: {_said(exc)}") from None
    except docker.errors.APIError as exc:
        code = exc.status_code or 500
        if code == 409 or (code == 500 and "is not running" in _said(exc)):
            raise Refused(ErrorCode.CONFLICT, f"{host}: {_said(exc)}") from None
        if 400 <= code < 500:
            raise Refused(ErrorCode.INVALID_MESSAGE, f"{host}: {_said(exc)}") from None
        raise Refused(ErrorCode.UNAVAILABLE, f"{host}: the engine said {_said(exc)}") from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        reason = f"the Docker engine of {host} is unreachable: {type(exc).__name__}"
        raise Refused(ErrorCode.UNAVAILABLE, reason) from None


_SHORT_ID = 12  # as `docker ps` shows an id


def _named(container: Container, asked: str) -> bool:
    """Whether `asked` names `container` for sure: its name, or its id or a prefix of
    at least 12 characters (the engine would also take `0` for the first id starting
    with 0: one keystroke from acting on the wrong container)."""
    full = container.id or ""
    return asked == container.name or (len(asked) >= _SHORT_ID and full.startswith(asked))


def _proposed(detail: str, request: ActOnContainer | ActOnWorkload) -> str:
    """What the audit trail says of a done action: an alert's proposal names the alert."""
    return detail if request.alert is None else f"{detail} (proposed by alert {request.alert})"


def _said(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or exc)


def _acted(
    request: ActOnContainer, container: Container, outcome: str, detail: str
) -> ContainerActed:
    try:
        state = ContainerState(str(container.status))
    except ValueError:  # `removing`
        state = ContainerState.REMOVED
    return ContainerActed(
        host=request.host,
        container=container.id or "",
        name=container.name or "",
        action=request.action,
        outcome="done" if outcome == "done" else "declined",
        state=state,
        detail=detail,
    )


class WorkloadActions:
    """Actions on the workloads of this replica's cluster: delete a pod, restart a
    Deployment's (or StatefulSet's) rollout, scale one."""

    def __init__(self, bus: Bus, settings: DeployerSettings, api: Any, trail: AuditTrail) -> None:
        self._bus = bus
        self._settings = settings
        self._api = api  # KubernetesTarget: its core() and apps() APIs, made at first use
        self._trail = trail

    async def act(self, request: ActOnWorkload, caller: Principal) -> WorkloadActed:
        audited = f"k8s.{request.action}"
        target = f"{request.kind} {request.cluster}/{request.namespace}/{request.name}"
        check_grant(self._trail, caller, audited, request.cluster, "cluster", request.cluster)
        try:
            replicas = await self._k8s(self._read, request)
            if request.action in DESTRUCTIVE or request.alert is not None:
                try:
                    await self._ask(request, caller)
                except Declined as exc:
                    self._trail.refused(audited, caller, exc.reason, target=target)
                    return _workload_acted(request, "declined", replicas, exc.reason)
            replicas, detail = await self._k8s(self._do, request)
        except Refused as exc:
            self._trail.record(
                audited, AuditOutcome.FAILED, caller, target=target, detail=exc.message
            )
            raise
        self._trail.record(
            audited, AuditOutcome.DONE, caller, target=target, detail=_proposed(detail, request)
        )
        return _workload_acted(request, "done", replicas, detail)

    async def _ask(self, request: ActOnWorkload, caller: Principal) -> None:
        where = f"{request.namespace}/{request.name} in {request.cluster}"
        text = f"Delete pod {where}? (its controller, if any, makes another)"
        if request.action is WorkloadAction.SCALE:
            text = f"Scale {request.kind} {where} to {request.replicas} replicas?"
        elif request.action is WorkloadAction.ROLLOUT_RESTART:
            text = f"Restart the rollout of {request.kind} {where}?"
        data = {
            "action": str(request.action),
            "cluster": request.cluster,
            "namespace": request.namespace,
            "kind": request.kind,
            "name": request.name,
            "answer": {"confirm": f"true to {request.action}, false to leave it"},
        }
        await ask_to_act(
            self._bus,
            caller,
            text,
            data,
            self._settings.confirm_timeout_s,
            f"to {request.action} {request.kind} {request.name}",
            request.alert,
        )

    def _read(self, request: ActOnWorkload) -> int | None:
        """Blocking: that the object is there (else 404); a workload's wanted replicas."""
        if request.kind == "pod":
            self._api.core().read_namespaced_pod(request.name, request.namespace)
            return None
        read = getattr(self._api.apps(), f"read_namespaced_{request.kind}")
        found = read(request.name, request.namespace)
        return int(found.spec.replicas or 0)

    def _do(self, request: ActOnWorkload) -> tuple[int | None, str]:
        """Blocking: the action; the replicas wanted after it and what was done."""
        name, namespace, kind = request.name, request.namespace, request.kind
        match request.action:
            case WorkloadAction.DELETE:
                self._api.core().delete_namespaced_pod(name, namespace)
                return None, "deleted"
            case WorkloadAction.ROLLOUT_RESTART:
                now = utc_now().isoformat()
                body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
                patched = getattr(self._api.apps(), f"patch_namespaced_{kind}")(
                    name, namespace, body
                )
                return int(patched.spec.replicas or 0), f"restarted at {now}"
            case WorkloadAction.SCALE:
                scale: dict[str, Any] = {"spec": {"replicas": request.replicas}}
                scaled = getattr(self._api.apps(), f"patch_namespaced_{kind}_scale")(
                    name, namespace, scale
                )
                return int(scaled.spec.replicas or 0), f"scaled to {request.replicas}"
        raise Refused(ErrorCode.INVALID_MESSAGE, f"{request.action}: not an action")

    async def _k8s(self, call: Callable[..., T], request: ActOnWorkload) -> T:
        where = f"{request.kind} {request.namespace}/{request.name}"
        return await on_cluster(self._settings.host, where, call, request)


async def on_cluster(cluster: str, where: str, call: Callable[..., T], *args: Any) -> T:
    """`call` in a worker thread, the API server's refusals as `Refused` (404: no
    `where`, such as "pod ns/name")."""
    # Imported only here: the kubernetes client is slow to import.
    from kubernetes.client import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        return await asyncio.to_thread(call, *args)
    except ApiException as exc:
        status = int(exc.status or 0)
        reason = f"{cluster}: {exc.reason or 'refused'} ({status})"
        if status == 404:
            raise Refused(ErrorCode.NOT_FOUND, f"{cluster}: no {where}") from None
        if status == 409:
            raise Refused(ErrorCode.CONFLICT, reason) from None
        if status in (400, 422):
            raise Refused(ErrorCode.INVALID_MESSAGE, reason) from None
        raise Refused(ErrorCode.UNAVAILABLE, reason) from None
    except (HTTPError, OSError, ConfigException) as exc:
        reason = f"the API server of {cluster} is unreachable: {type(exc).__name__}"
        raise Refused(ErrorCode.UNAVAILABLE, reason) from None


def _workload_acted(
    request: ActOnWorkload, outcome: str, replicas: int | None, detail: str
) -> WorkloadActed:
    return WorkloadActed(
        cluster=request.cluster,
        namespace=request.namespace,
        kind=request.kind,
        name=request.name,
        action=request.action,
        outcome="done" if outcome == "done" else "declined",
        replicas=replicas,
        detail=detail,
    )
