"""Errors of the vigil command.

CliError                    root of everything the command reports as a failure
├── SettingsError           the environment does not describe a valid stack
├── NotLoggedIn             no saved credentials for the gateway
└── StartupError            the stack could not be brought up
    ├── PortInUse           a port the stack must listen on is taken
    ├── ExecutableNotFound  a program the stack runs is not installed
    ├── SpawnFailed         the system refused to start a process
    ├── DiedBeforeReady     a process exited before it was ready
    └── NotReady            a process did not become ready in time
"""


class CliError(Exception):
    """Root of the command's exceptions; the message is what the user reads."""


class SettingsError(CliError):
    """An environment variable that the command cannot use."""


class NotLoggedIn(CliError):
    """No credentials saved: `vigil login` first."""


class StartupError(CliError):
    """The stack could not be brought up; everything started so far is stopped."""


class PortInUse(StartupError):
    def __init__(self, name: str, port: int, setting: str) -> None:
        self.name = name
        self.port = port
        self.setting = setting
        super().__init__(
            f"{name} cannot listen on 127.0.0.1:{port}: the port is in use "
            f"(stop what uses it, or set {setting} to a free port)"
        )


class ExecutableNotFound(StartupError):
    def __init__(self, program: str, hint: str) -> None:
        self.program = program
        super().__init__(f"{program} was not found ({hint})")


class SpawnFailed(StartupError):
    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name} could not be started: {reason}")


class DiedBeforeReady(StartupError):
    def __init__(self, name: str, returncode: int | None) -> None:
        self.name = name
        self.returncode = returncode
        super().__init__(
            f"{name} exited with code {returncode} before it was ready (see its lines above)"
        )


class NotReady(StartupError):
    def __init__(self, name: str, probe: str, timeout: float) -> None:
        self.name = name
        self.probe = probe
        self.timeout = timeout
        super().__init__(f"{name} was not ready within {timeout:g} s ({probe})")
