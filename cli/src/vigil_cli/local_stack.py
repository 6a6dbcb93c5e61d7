"""The gateway that `vigil up` serves on this machine, recorded in its data directory
(`<data dir>/gateway-url`) while it runs, so that the commands run beside it find it
whatever port it was given (`VIGIL_GATEWAY_PORT`), with nothing else to set."""

import contextlib
import os
from pathlib import Path

RECORD = "gateway-url"


def record(data_dir: Path, url: str) -> None:
    """Say that the stack serves its gateway at `url` (written atomically)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = data_dir / f".{RECORD}.{os.getpid()}"
    temporary.write_text(url + "\n")
    os.replace(temporary, data_dir / RECORD)


def forget(data_dir: Path) -> None:
    """The stack stopped: its gateway is no longer served."""
    with contextlib.suppress(FileNotFoundError):
        (data_dir / RECORD).unlink()


def recorded(data_dir: Path) -> str | None:
    """The gateway the stack of `data_dir` serves, if one runs (or died unstopped)."""
    try:
        url = (data_dir / RECORD).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return url or None
