"""The validator for names that come from outside and end up in subjects.

A name is one subject token: strict ASCII, never `.`, `*`, `>` or whitespace, and
within its kind's pattern. Anything else is rejected with the reason, never escaped
or widened. Unicode look-alikes fail too, because the patterns are ASCII-only.

A few kinds are matched by the gateway itself and never part of a subject: the
selectors of a merged view, a label (`key` or `key=value`) and a name pattern (a
glob), and the text of a log filter.
"""

import re
import socket
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

from vigil.errors import InvalidName


class NameKind(StrEnum):
    HOST = "host"
    CONTAINER = "container"
    CLUSTER = "cluster"
    NAMESPACE = "namespace"
    POD = "pod"
    DEPLOY_ID = "deploy_id"
    SOURCE = "source"
    CONNECTION = "connection"
    LABEL = "label"
    NAME_PATTERN = "name_pattern"
    LABEL_SELECTOR = "label_selector"
    WORKLOAD = "workload"
    FILTER = "filter"
    JOURNAL_SELECTOR = "journal_selector"
    UNIT = "unit"
    LOG_FILE = "log_file"


GATEWAY_ONLY = frozenset(
    {
        NameKind.LABEL,
        NameKind.NAME_PATTERN,
        NameKind.LABEL_SELECTOR,
        NameKind.WORKLOAD,
        NameKind.FILTER,
        NameKind.JOURNAL_SELECTOR,
        NameKind.UNIT,
    }
)
"""Kinds the gateway matches itself, never put in a subject: they may hold `.`, `*`..."""

_TOKEN = r"[A-Za-z0-9][A-Za-z0-9_-]*"
_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
# Kubernetes label keys (an optional DNS prefix and '/') and values (may be empty).
_LABEL_KEY = r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?/)?[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_LABEL_VALUE = r"(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?"
_SELECTOR_TERM = rf"!?{_LABEL_KEY}|{_LABEL_KEY}(?:==?|!=){_LABEL_VALUE}"
WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset")
# A systemd unit's name (letters, digits, ':', '-', '_', '.', '@'), or a glob of them.
_UNIT = r"[A-Za-z0-9:_.@*?-]+"
PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_JOURNAL_TERM = rf"unit={_UNIT}|priority<=(?:{'|'.join(PRIORITIES)}|[0-7])"

# kind -> (pattern, max length, what the pattern allows, for the error message)
_RULES: dict[NameKind, tuple[str, int, str]] = {
    NameKind.HOST: (_TOKEN, 63, "letters, digits, '-' and '_', starting with a letter or digit"),
    NameKind.CONTAINER: (_TOKEN, 128, "a container id or a name of letters, digits, '-', '_'"),
    NameKind.CLUSTER: (_TOKEN, 63, "letters, digits, '-' and '_', starting with a letter or digit"),
    NameKind.NAMESPACE: (_DNS_LABEL, 63, "a DNS label: lower-case letters, digits and '-'"),
    NameKind.POD: (_DNS_LABEL, 253, "lower-case letters, digits and '-' (no '.')"),
    NameKind.DEPLOY_ID: (_TOKEN, 64, "letters, digits, '-' and '_'"),
    NameKind.SOURCE: (_TOKEN, 63, "letters, digits, '-' and '_'"),
    NameKind.LOG_FILE: (_TOKEN, 63, "a log file's short name: letters, digits, '-' and '_'"),
    NameKind.CONNECTION: (_TOKEN, 64, "letters, digits, '-' and '_'"),
    NameKind.LABEL: (
        r"[A-Za-z0-9][A-Za-z0-9._/-]*(?:=[A-Za-z0-9._-]*)?",
        255,
        "key or key=value: letters, digits, '.', '_', '-' (and '/' in the key)",
    ),
    NameKind.NAME_PATTERN: (
        r"[A-Za-z0-9_.*?-]+",
        128,
        "a container name with * and ? wildcards: letters, digits, '.', '_', '-'",
    ),
    NameKind.LABEL_SELECTOR: (
        rf"(?:{_SELECTOR_TERM})(?:,(?:{_SELECTOR_TERM}))*",
        1024,
        "a Kubernetes label selector: comma-separated key=value, key!=value, key or !key",
    ),
    NameKind.WORKLOAD: (
        rf"(?:{'|'.join(WORKLOAD_KINDS)})/[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?",
        253,
        "kind/name, the kind one of deployment, statefulset, daemonset",
    ),
    NameKind.FILTER: (r"[^\x00-\x1f\x7f]+", 200, "printable characters"),
    NameKind.UNIT: (_UNIT, 256, "a systemd unit's name or a glob: letters, digits, ':_.@-*?'"),
    NameKind.JOURNAL_SELECTOR: (
        # each term at most once ('=' and '<' are in no unit name)
        rf"all|(?!.*unit=.*unit=)(?!.*priority<=.*priority<=)"
        rf"(?:{_JOURNAL_TERM})(?:,(?:{_JOURNAL_TERM}))*",
        300,
        "all, or unit=NAME (a glob) and/or priority<=LEVEL (emerg, alert, crit, err,"
        " warning, notice, info, debug or 0-7), comma-separated, each at most once",
    ),
}
_COMPILED = {kind: re.compile(pattern, re.ASCII) for kind, (pattern, _, _) in _RULES.items()}


def validate_name(kind: NameKind, value: object) -> str:
    """Return `value` if it is a valid name of `kind`; raise `InvalidName` saying why not."""
    if not isinstance(value, str):
        raise InvalidName(kind, value, "must be a string")
    if not value:
        raise InvalidName(kind, value, "must not be empty")
    _, max_length, allowed = _RULES[kind]
    if len(value) > max_length:
        raise InvalidName(kind, value[:80], f"longer than {max_length} characters")
    if not _COMPILED[kind].fullmatch(value):
        raise InvalidName(kind, value, f"only {allowed} are allowed")
    return value


def is_name(kind: NameKind, value: object) -> bool:
    """Whether `value` is a valid name of `kind` (a subject's token)."""
    try:
        validate_name(kind, value)
    except InvalidName:
        return False
    return True


def _validator(kind: NameKind) -> AfterValidator:
    return AfterValidator(lambda value: validate_name(kind, value))


HostName = Annotated[str, _validator(NameKind.HOST)]
ContainerName = Annotated[str, _validator(NameKind.CONTAINER)]
ClusterName = Annotated[str, _validator(NameKind.CLUSTER)]
NamespaceName = Annotated[str, _validator(NameKind.NAMESPACE)]
PodName = Annotated[str, _validator(NameKind.POD)]
DeployId = Annotated[str, _validator(NameKind.DEPLOY_ID)]
SourceName = Annotated[str, _validator(NameKind.SOURCE)]
UnitName = Annotated[str, _validator(NameKind.UNIT)]
LogFileName = Annotated[str, _validator(NameKind.LOG_FILE)]
JournalSelector = Annotated[str, _validator(NameKind.JOURNAL_SELECTOR)]


def default_host_id() -> str:
    """The machine's short hostname, made a valid host id (dots would split subjects):
    the host a collector and a deployer serve unless told otherwise."""
    short = socket.gethostname().split(".")[0]
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in short)
    return cleaned.strip("-_")[:63] or "localhost"
