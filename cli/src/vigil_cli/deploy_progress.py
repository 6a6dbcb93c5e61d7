"""A deploy's journal as it happens: its steps, and the image pull with a bar per layer.

On a terminal it is a live display (rich); otherwise plain lines, never wrapped: one
per step that starts, ends, is skipped or fails, and one for the pull every tenth of
the way, so a log file reads as well as a screen.
"""

from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
)

from vigil.messages import DeployEvent, DeployStep, PullProgress, StepState
from vigil_cli import figures

_MARKS = {
    StepState.STARTED: "…",
    StepState.FINISHED: "✓",
    StepState.SKIPPED: "-",
    StepState.FAILED: "✗",
}


class DeployView(Protocol):
    def show(self, event: DeployEvent) -> None: ...

    def say(self, text: str) -> None: ...

    def stop(self) -> None: ...

    def resume(self) -> None: ...


def step_line(event: DeployEvent) -> str:
    return f"{_MARKS.get(event.status, ' ')} {event.step:<8} {event.message}"


class PlainView:
    """Lines, for a log file or a pipe."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._pull_tenth = -1

    def show(self, event: DeployEvent) -> None:
        if event.status is StepState.PROGRESS:
            if event.progress is not None:
                self._pull(event.progress)
            return
        self.say(step_line(event))

    def _pull(self, pull: PullProgress) -> None:
        tenth = int(pull.percent // 10)
        if tenth > self._pull_tenth:
            self._pull_tenth = tenth
            layers = ", ".join(f"{layer.id} {layer.percent:.0f}%" for layer in pull.layers)
            done = f"{figures.size(pull.current)}/{figures.size(pull.total)}"
            self.say(f"  pull {pull.percent:5.1f}%  {done}  [{layers}]")

    def say(self, text: str) -> None:
        # One line each, however long: a pipe has no width to wrap at.
        self._console.print(text, highlight=False, markup=False, soft_wrap=True)

    def stop(self) -> None:
        """Plain lines need no stopping before a question."""

    def resume(self) -> None:
        """Plain lines need no stopping before a question."""


class LiveView:
    """A live display: step lines above, the pull's bars (all, then each layer) below."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            console=console,
            transient=False,
        )
        self._overall: TaskID | None = None
        self._layers: dict[str, TaskID] = {}
        self._progress.start()

    def show(self, event: DeployEvent) -> None:
        if event.progress is not None:
            self._pull(event.progress)
        if event.status is not StepState.PROGRESS:
            self.say(step_line(event))
        if event.step is DeployStep.DONE:
            self.stop()

    def _pull(self, pull: PullProgress) -> None:
        if self._overall is None:
            self._overall = self._progress.add_task("pull", total=max(pull.total, 1))
        self._progress.update(self._overall, completed=pull.current, total=max(pull.total, 1))
        for layer in pull.layers:
            if layer.id not in self._layers:
                self._layers[layer.id] = self._progress.add_task(f"  {layer.id}", total=None)
            self._progress.update(
                self._layers[layer.id],
                completed=layer.current,
                total=layer.total,
                description=f"  {layer.id} {layer.status}",
            )

    def say(self, text: str) -> None:
        self._progress.console.print(text, highlight=False, markup=False)

    def stop(self) -> None:
        self._progress.stop()

    def resume(self) -> None:
        self._progress.start()


def deploy_view(console: Console) -> DeployView:
    return LiveView(console) if console.is_terminal else PlainView(console)
