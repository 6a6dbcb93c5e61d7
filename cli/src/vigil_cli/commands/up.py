"""`vigil up`: run NATS and every service on this machine, until Ctrl-C or SIGTERM."""

import argparse
import asyncio
import os
import sys

from pydantic import ValidationError

from vigil.busauth.trust import TrustError
from vigil.errors import BusUnavailable
from vigil.settings import VigilSettings
from vigil_cli import local_stack
from vigil_cli.bus_setup import prepare_bus
from vigil_cli.commands import Subparsers
from vigil_cli.console import OWN_SOURCE, Console
from vigil_cli.errors import CliError, PortInUse, StartupError
from vigil_cli.ports import port_in_use
from vigil_cli.readiness import wait_until_ready
from vigil_cli.settings import LOCALHOST, UpSettings
from vigil_cli.signals import StopSignals
from vigil_cli.stack import Stack, build_stack
from vigil_cli.supervisor import Supervisor

ENVIRONMENT_HELP = """\
environment:
  VIGIL_NATS_URL      use this NATS server instead of starting one
  VIGIL_NATS_PORT     port of the NATS server started on 127.0.0.1 (default 4222)
  VIGIL_GATEWAY_PORT  port of the gateway (default 8000)
  VIGIL_DATA_DIR      where data and the auth secret are kept (default ./.vigil);
                      the gateway's URL is recorded there while up, for the commands
The services read their own VIGIL_... settings from the same environment.
"""


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "up",
        help="run the whole stack on this machine",
        description=(
            "Start a NATS server (with JetStream) and every Vigil service, print their "
            "output, restart any that dies, and stop them all on Ctrl-C or SIGTERM."
        ),
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = UpSettings()
        shared = VigilSettings(
            nats_url=settings.nats_url or f"nats://{LOCALHOST}:{settings.nats_port}"
        )
    except ValidationError as exc:
        print(f"vigil up: invalid settings: {exc}", file=sys.stderr)
        return 2
    try:
        stack = build_stack(settings, prepare_bus(settings.data_dir, shared), os.environ)
    except (CliError, TrustError) as exc:
        print(f"vigil up: {exc}", file=sys.stderr)
        return 1
    console = Console(sys.stdout, width=max(map(len, (*stack.names, OWN_SOURCE))))
    try:
        return asyncio.run(serve(stack, Supervisor(console), console))
    finally:
        console.close()


async def serve(stack: Stack, supervisor: Supervisor, console: Console) -> int:
    """Bring `stack` up, keep it up until a stop signal, then stop it; the exit status."""
    status = 0
    with StopSignals(console, on_force=supervisor.kill_all) as signals:
        try:
            if await signals.run(_start(stack, supervisor, console)):
                _announce(stack, console)
                if stack.gateway is not None:  # `vigil login` and the rest find it here
                    local_stack.record(*stack.gateway)
                await signals.stop_requested.wait()
        except StartupError as exc:
            console.line(OWN_SOURCE, f"error: {exc}")
            status = 1
        finally:
            if stack.gateway is not None:
                local_stack.forget(stack.gateway[0])
            for tier in reversed(stack.tiers):
                await supervisor.stop(component.name for component in tier)
            await supervisor.stop_all()
            console.line(OWN_SOURCE, "Vigil stopped." if status == 0 else "Vigil did not start.")
    return status


async def _start(stack: Stack, supervisor: Supervisor, console: Console) -> None:
    for tier in stack.tiers:
        for component in tier:
            if component.port is not None and port_in_use(LOCALHOST, component.port):
                raise PortInUse(component.name, component.port, component.port_setting)
    for tier in stack.tiers:
        if tier is stack.tiers[-1] and stack.before_services is not None:
            try:  # the streams the services need (NATS is up)
                await stack.before_services()
            except BusUnavailable as exc:
                raise StartupError(f"could not make the streams: {exc}") from None
        for component in tier:
            await supervisor.start(component.spec)
        for component in tier:
            if component.probe is not None:
                await wait_until_ready(
                    supervisor[component.name], component.probe, component.ready_within, console
                )


def _announce(stack: Stack, console: Console) -> None:
    width = max(len(what) for what, _ in stack.urls)
    for what, url in stack.urls:
        console.line(OWN_SOURCE, f"  {what:<{width}}  {url}")
    console.line(OWN_SOURCE, "Vigil is up. Press Ctrl-C to stop.")
