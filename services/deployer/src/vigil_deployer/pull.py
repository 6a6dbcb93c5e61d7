"""Per-layer progress of an image pull, from Docker's pull stream.

The stream is read in a worker thread; `PullTracker` folds each chunk into per-layer
state under a lock, and the event loop takes a snapshot now and then for the journal,
said in words by `summary` (IEC units, as the dashboard and the CLI show sizes).
"""

import threading
from typing import Any

from vigil.messages import LayerProgress, PullProgress
from vigil_deployer.errors import StepFailed

_DONE = {"Pull complete", "Already exists", "Download complete", "Verifying Checksum"}
_FINISHED = {"Pull complete", "Already exists"}
_IEC = ("B", "KiB", "MiB", "GiB", "TiB")


def size(count: float) -> str:
    """`1536` -> `1.5 KiB`."""
    value, unit = float(count), 0
    while abs(value) >= 1024 and unit < len(_IEC) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.0f} {_IEC[unit]}" if unit == 0 else f"{value:.1f} {_IEC[unit]}"


def total_known(progress: PullProgress) -> bool:
    """Docker names every layer first and tells a layer's size only once it starts: the
    total is known once every layer still to come has told its own (a layer the host
    already has is done without one)."""
    layers = progress.layers
    return bool(layers) and all(layer.total is not None or layer.percent >= 100 for layer in layers)


def summary(progress: PullProgress) -> str:
    """`33.3 % of 4.8 MiB (1/3 layers)`, or `of ?` while the total is not known."""
    done = sum(1 for layer in progress.layers if layer.percent >= 100)
    total = size(progress.total) if total_known(progress) else "?"
    return f"{progress.percent:.1f} % of {total} ({done}/{len(progress.layers)} layers)"


class _Layer:
    __slots__ = ("current", "status", "total")

    def __init__(self) -> None:
        self.status = "Waiting"
        self.current = 0
        self.total: int | None = None


class PullTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._layers: dict[str, _Layer] = {}
        self._changed = False
        self._shown = 0.0

    def feed(self, chunk: dict[str, Any]) -> None:
        """One decoded chunk of the pull stream; `StepFailed` for an error chunk."""
        if "error" in chunk:
            raise StepFailed("pull", str(chunk.get("error"))[:1000])
        layer_id, status = chunk.get("id"), str(chunk.get("status", ""))
        if not layer_id or not status or status.startswith(("Pulling from", "Digest", "Status")):
            return
        detail = chunk.get("progressDetail") or {}
        with self._lock:
            layer = self._layers.setdefault(str(layer_id), _Layer())
            layer.status = status
            if status == "Downloading":
                layer.current = int(detail.get("current", layer.current))
                if detail.get("total"):
                    layer.total = int(detail["total"])
            elif status in _DONE and layer.total is not None:
                layer.current = layer.total
            self._changed = True

    def take(self) -> PullProgress | None:
        """A snapshot if anything changed since the last one."""
        with self._lock:
            if not self._changed:
                return None
            self._changed = False
            return self._snapshot(final=False)

    def final(self) -> PullProgress:
        """The snapshot at the end of a successful pull: every layer is there."""
        with self._lock:
            return self._snapshot(final=True)

    def _snapshot(self, *, final: bool) -> PullProgress:
        layers = []
        for layer_id, layer in self._layers.items():
            done = final or layer.status in _FINISHED
            current = layer.total if done and layer.total is not None else layer.current
            if done:
                percent = 100.0
            elif layer.total:
                percent = min(100.0, 100.0 * layer.current / layer.total)
            else:
                percent = 0.0
            status = "Pull complete" if final and layer.status not in _FINISHED else layer.status
            layers.append(
                LayerProgress(
                    id=layer_id,
                    status=status,
                    current=current,
                    total=layer.total,
                    percent=round(percent, 1),
                )
            )
        total = sum(layer.total or 0 for layer in layers)
        current = sum(min(layer.current, layer.total or 0) for layer in layers)
        if final:
            percent = 100.0
        else:
            # The mean of the layers' percents: Docker names every layer before it
            # downloads any, but tells a layer's size only once it starts, so a
            # byte ratio would jump back when a big layer begins.
            percent = sum(layer.percent for layer in layers) / len(layers) if layers else 0.0
            percent = min(percent, 99.9)  # 100 % means every layer is in, nothing less
        self._shown = percent = max(self._shown, round(percent, 1))  # never goes back
        return PullProgress(layers=layers, current=current, total=total, percent=percent)
