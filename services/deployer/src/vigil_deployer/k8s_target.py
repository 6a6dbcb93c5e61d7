"""Deploys to a Kubernetes Deployment: patch its container, watch the rollout, and on
failure or cancel put the previous revision's template back.

The deployer's steps map onto a rollout: `validate` reads the Deployment and keeps its
pod template (what rolling back restores, saved in the deploy record); `pull` is the
kubelet's business (skipped); `create` patches the container's image (and command,
and the progress deadline when given); `start` waits for the controller to see the
new generation; `wait_healthy` follows the rollout until every replica is updated,
ready and available, and fails on `ProgressDeadlineExceeded`; `switch` and
`clean_up` have nothing left to do (the Deployment switched as it rolled; old
ReplicaSets are its history). The `kubernetes` client blocks: calls run in threads.
"""

import asyncio
import time
from typing import Any

from kubernetes import client, config

from vigil.messages import DeploySpec
from vigil_deployer.errors import HealthFailed, StepFailed
from vigil_deployer.settings import DeployerSettings
from vigil_deployer.target import ReportProgress, SaveState

_POLL_S = 0.5
_REVISION = "deployment.kubernetes.io/revision"


class KubernetesTarget:
    kind = "kubernetes"

    def __init__(self, settings: DeployerSettings) -> None:
        self.settings = settings
        self._apps: Any = None
        self._core: Any = None
        self._api_client: Any = None
        self._exec_client: Any = None

    def _new_client(self) -> Any:
        context = self.settings.k8s_context or self.settings.host
        return config.new_client_from_config(self.settings.kubeconfig, context=context)

    def _client(self) -> Any:
        if self._api_client is None:
            self._api_client = self._new_client()
        return self._api_client

    def exec_core(self) -> Any:
        """A CoreV1 API for `kubernetes.stream.stream` alone (pods' shells), on a client
        of its own: `stream` swaps its client's transport for a WebSocket while it
        connects, which no other call on that client may see."""
        if self._exec_client is None:
            self._exec_client = self._new_client()
        return client.CoreV1Api(self._exec_client)

    def apps(self) -> Any:
        """The AppsV1 API of the settings' cluster, made at first use."""
        if self._apps is None:
            self._apps = client.AppsV1Api(self._client())
        return self._apps

    def core(self) -> Any:
        """The CoreV1 API of the settings' cluster (pods, for actions), made at first use."""
        if self._core is None:
            self._core = client.CoreV1Api(self._client())
        return self._core

    def rollout(
        self, deploy_id: str, spec: DeploySpec, state: dict[str, Any], save: SaveState
    ) -> "KubernetesRollout":
        return KubernetesRollout(self, spec, state, save)

    async def close(self) -> None:
        for api_client in (self._api_client, self._exec_client):
            if api_client is not None:
                await asyncio.to_thread(api_client.close)


class KubernetesRollout:
    def __init__(
        self, target: KubernetesTarget, spec: DeploySpec, state: dict[str, Any], save: SaveState
    ) -> None:
        self._target = target
        self._spec = spec
        self._save = save
        self._namespace = spec.namespace or "default"
        # What rolling back needs, kept in the deploy record through `save`.
        self._state: dict[str, Any] = {
            "template": None,  # the pod template that served before
            "deadline": None,  # the progressDeadlineSeconds before
            "patched": False,  # this deploy changed the Deployment
            "generation": None,  # the generation the patch made
            **state,
        }

    @property
    def _where(self) -> str:
        return f"Deployment {self._namespace}/{self._spec.name} in {self._spec.cluster}"

    async def _set(self, **changes: Any) -> None:
        self._state.update(changes)
        await self._save(dict(self._state))

    # -- steps --------------------------------------------------------------------

    async def validate(self) -> str:
        deployment = await self._read("validate")
        containers = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
        name = self._spec.container or containers[0]
        for wanted in (name, *self._spec.images):
            if wanted not in containers:
                raise StepFailed(
                    "validate",
                    f"{self._where} has no container {wanted!r} ({', '.join(containers)})",
                )
        template = deployment["spec"]["template"]
        await self._set(
            template=template, deadline=deployment["spec"].get("progressDeadlineSeconds")
        )
        image = next(c["image"] for c in template["spec"]["containers"] if c["name"] == name)
        revision = (deployment["metadata"].get("annotations") or {}).get(_REVISION, "?")
        return f"{self._where} runs {image} in {name!r} (revision {revision})"

    async def pull(self, report: ReportProgress) -> str | None:
        return None  # each node's kubelet pulls

    async def create(self) -> str:
        template = self._state["template"]
        containers = template["spec"]["containers"]
        name = self._spec.container or containers[0]["name"]
        spec = self._spec
        # Secrets in clear here only: what we say about the patch never holds them.
        change: dict[str, Any] = {**spec.patch_as_run(), "name": name, "image": spec.image}
        if spec.command is not None:
            change["command"] = spec.argv()
        if spec.env:  # merged by name into the container's own (and the patch's)
            kept = [e for e in change.get("env", []) if e["name"] not in spec.env]
            given = [{"name": key, "value": value} for key, value in spec.env.items()]
            change["env"] = [*kept, *given]
        others = [{"name": other, "image": image} for other, image in spec.images.items()]
        patch: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [change, *others]}}}}
        if self._spec.progress_deadline_s is not None:
            patch["spec"]["progressDeadlineSeconds"] = self._spec.progress_deadline_s
        await self._set(patched=True)
        patched = await self._call("create", "patch_namespaced_deployment", patch)
        generation = patched["metadata"]["generation"]
        await self._set(generation=generation)
        return f"patched {self._where}: {name!r} runs {self._spec.image} (generation {generation})"

    @property
    def start_interrupts(self) -> bool:
        return False  # the controller rolls the new pods out while the old ones serve

    async def start(self) -> str:
        deadline = time.monotonic() + self._target.settings.k8s_timeout_s
        while True:
            deployment = await self._read("start")
            observed = deployment["status"].get("observedGeneration") or 0
            if observed >= self._state["generation"]:
                return f"the controller rolls generation {observed} out"
            if time.monotonic() > deadline:
                raise StepFailed("start", f"the controller did not see {self._where}'s change")
            await asyncio.sleep(_POLL_S)

    async def wait_healthy(self) -> str:
        while True:
            deployment = await self._read("health")
            verdict = _rollout(deployment, self._state["generation"])
            if verdict is True:
                replicas = deployment["spec"].get("replicas", 1)
                return f"rolled out: {replicas} of {replicas} updated, ready and available"
            if isinstance(verdict, str):
                raise HealthFailed(verdict)
            await asyncio.sleep(_POLL_S)

    async def switch(self) -> str:
        return "the Deployment switched its replicas as it rolled out"

    async def clean_up(self) -> str:
        return "old ReplicaSets stay as the Deployment's history"

    async def roll_back(self) -> str:
        """The previous revision's template (and progress deadline) back in place."""
        if not self._state["patched"] or self._state["template"] is None:
            return "nothing to undo"
        body: dict[str, Any] = {"spec": {"template": self._state["template"]}}
        if self._state["deadline"] is not None:
            body["spec"]["progressDeadlineSeconds"] = self._state["deadline"]
        restored = await self._call(
            "rollback", "patch_namespaced_deployment", body, content_type="merge"
        )
        return (
            f"{self._where} has its previous template again "
            f"(generation {restored['metadata']['generation']})"
        )

    # -- plumbing -----------------------------------------------------------------

    async def _read(self, step: str) -> dict[str, Any]:
        return await self._call(step, "read_namespaced_deployment", None)

    async def _call(
        self, step: str, method: str, body: Any, content_type: str = "strategic"
    ) -> dict[str, Any]:
        def blocking() -> dict[str, Any]:
            apps = self._target.apps()
            if body is None:
                found = getattr(apps, method)(self._spec.name, self._namespace)
            else:  # a strategic merge patch keys containers by name; merge replaces lists
                found = getattr(apps, method)(
                    self._spec.name,
                    self._namespace,
                    body if content_type == "strategic" else _replacing(body),
                )
            result: dict[str, Any] = apps.api_client.sanitize_for_serialization(found)
            return result

        try:
            return await asyncio.to_thread(blocking)
        except client.ApiException as exc:
            if exc.status == 404:
                raise StepFailed(step, f"no {self._where}") from None
            raise StepFailed(step, f"{self._where}: {exc.status} {exc.reason}") from None
        except (OSError, config.ConfigException) as exc:
            raise StepFailed(step, f"the cluster is unreachable: {exc}") from None


def _replacing(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch that puts the whole template back (a merge would keep new fields)."""
    operations: list[dict[str, Any]] = [
        {"op": "replace", "path": "/spec/template", "value": body["spec"]["template"]}
    ]
    if "progressDeadlineSeconds" in body["spec"]:
        operations.append(
            {
                "op": "replace",
                "path": "/spec/progressDeadlineSeconds",
                "value": body["spec"]["progressDeadlineSeconds"],
            }
        )
    return operations


def _rollout(deployment: dict[str, Any], generation: int) -> bool | str | None:
    """True once rolled out, a reason once it failed, None while it goes on (as
    `kubectl rollout status` decides)."""
    status = deployment.get("status") or {}
    if (status.get("observedGeneration") or 0) < generation:
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == (
            "ProgressDeadlineExceeded"
        ):
            return f"ProgressDeadlineExceeded: {condition.get('message', '')}".strip()
    replicas = deployment["spec"].get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    available = status.get("availableReplicas") or 0
    total = status.get("replicas") or 0
    if updated >= replicas and total <= updated and available >= updated:
        return True
    return None
