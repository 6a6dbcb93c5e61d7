"""Container status from Docker: a snapshot of every container, then `docker events`.

`EventReader` reads the engine's event stream in a worker thread (the stream blocks)
and hands each container event to the loop; `ContainerStates` turns events into
`ContainerStatusChanged` messages, remembering each container's name, image, exit
code and health so that every message is whole. Every event carries the container's
current name, and a `rename` (a deploy's switch gives the new container the service's
name) is published like the others, so the name everyone shows follows it.
`close()` shuts the stream's socket, which ends the thread.
"""

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from vigil.messages import ContainerState, ContainerStatusChanged, utc_now
from vigil_collector.docker.engine import STREAM_BROKEN, UNREACHABLE, describe, shut
from vigil_collector.errors import DockerUnavailable
from vigil_collector.handoff import Handoff

ACTIONS = (
    "create",
    "start",
    "restart",
    "die",
    "stop",
    "kill",
    "oom",
    "pause",
    "unpause",
    "health_status",
    "rename",
    "destroy",
)

# The state an event leaves a container in; kill, oom, health and rename change no state.
_STATE_AFTER = {
    "create": ContainerState.CREATED,
    "start": ContainerState.RUNNING,
    "restart": ContainerState.RUNNING,
    "unpause": ContainerState.RUNNING,
    "pause": ContainerState.PAUSED,
    "die": ContainerState.EXITED,
    "stop": ContainerState.EXITED,
    "destroy": ContainerState.REMOVED,
}
_EXIT_CODE = re.compile(r"Exited \((-?\d+)\)")
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


# Attributes of a container event that are not the container's labels.
_NOT_LABELS = frozenset({"name", "oldName", "image", "exitCode", "signal", "execDuration"})


@dataclass(frozen=True)
class _Known:
    name: str
    image: str
    status: ContainerState
    exit_code: int | None = None
    health: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class ContainerStates:
    """What the collector knows of each container, and the messages its changes make."""

    def __init__(self, host: str) -> None:
        self._host = host
        self._known: dict[str, _Known] = {}

    def snapshot(self, listed: list[Mapping[str, Any]]) -> list[ContainerStatusChanged]:
        """Messages for every container of `containers(all=True)`, as they are now."""
        messages = []
        for summary in listed:
            text = str(summary.get("Status", ""))
            exit_code = _EXIT_CODE.search(text)
            health = _HEALTH.search(text)
            try:
                status = ContainerState(str(summary.get("State", "")))
            except ValueError:
                status = ContainerState.DEAD
            known = _Known(
                name=(summary.get("Names") or ["/" + summary["Id"][:12]])[0].lstrip("/"),
                image=str(summary.get("Image", "")),
                status=status,
                exit_code=int(exit_code.group(1)) if exit_code else None,
                health=health.group(1).removeprefix("health: ") if health else None,
                labels=dict(summary.get("Labels") or {}),
            )
            self._known[summary["Id"][:12]] = known
            messages.append(self._message(summary["Id"][:12], known, "snapshot", utc_now()))
        return messages

    def removed(self, container: str) -> ContainerStatusChanged:
        """A container the collector had published that no longer exists."""
        known = self._known.pop(container, None) or _Known(container, "", ContainerState.REMOVED)
        gone = replace(known, status=ContainerState.REMOVED)
        return self._message(container, gone, "destroy", utc_now())

    @property
    def containers(self) -> set[str]:
        return set(self._known)

    def apply(self, event: Mapping[str, Any]) -> ContainerStatusChanged | None:
        """The message for one Docker event, or None for events that are not ours."""
        action = str(event.get("Action") or event.get("status") or "")
        verb, _, detail = action.partition(": ")
        if verb not in ACTIONS or "id" not in event:
            return None
        container = str(event["id"])[:12]
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        before = self._known.get(container) or _Known(
            name=str(attributes.get("name", container)),
            image=str(attributes.get("image", event.get("from", ""))),
            status=ContainerState.CREATED,
            labels={k: str(v) for k, v in attributes.items() if k not in _NOT_LABELS},
        )
        known = replace(
            before,
            name=str(attributes.get("name", before.name)),
            status=_STATE_AFTER.get(verb, before.status),
        )
        if verb == "die" and "exitCode" in attributes:
            known = replace(known, exit_code=int(attributes["exitCode"]))
        elif verb in ("start", "create"):
            known = replace(known, exit_code=None)
        if verb == "health_status":
            known = replace(known, health=detail or None)
        elif verb == "die":  # its healthcheck ends with it (and starts over unknown)
            known = replace(known, health=None)
        if verb == "destroy":
            self._known.pop(container, None)
        else:
            self._known[container] = known
        nanos = event.get("timeNano")
        when = datetime.fromtimestamp(int(nanos) / 1e9, UTC) if nanos else utc_now()
        return self._message(container, known, verb, when)

    def _message(
        self, container: str, known: _Known, event: str, when: datetime
    ) -> ContainerStatusChanged:
        return ContainerStatusChanged(
            host=self._host,
            id=container,
            name=known.name,
            image=known.image,
            status=known.status,
            event=event,
            exit_code=known.exit_code,
            health=known.health,
            time=when,
            labels=dict(known.labels),
        )


class EventReader:
    """`docker events` for containers, read in a thread; `None` is handed off at the end
    (the engine went away, or `close()`)."""

    def __init__(self, api: Any, handoff: Handoff[Mapping[str, Any] | None]) -> None:
        self._handoff = handoff
        try:
            self._stream = api.events(
                decode=True, filters={"type": "container", "event": list(ACTIONS)}
            )
        except UNREACHABLE as exc:
            raise DockerUnavailable(describe(exc)) from exc
        self._thread = threading.Thread(target=self._read, name="vigil-docker-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                if not self._handoff.put(event):
                    return
        except STREAM_BROKEN:  # the engine went away mid-read, or `close()`
            pass
        finally:
            self._handoff.put(None)

    def shut(self) -> None:
        """Shut the stream, which ends the thread (does not block: fine on the loop)."""
        self._handoff.close()
        shut(self._stream._response)

    def join(self, timeout_s: float = 5.0) -> None:
        """Wait for the thread to end; call from a thread."""
        self._thread.join(timeout_s)
