"""The audit trail: every denial, with who, what and when, and never a secret."""

import logging

from vigil.access import Principal

_audit = logging.getLogger("vigil.audit")


def denied(principal: Principal | None, action: str, reason: str, address: str | None) -> None:
    who = f"{principal.kind}:{principal.name}({principal.id})" if principal else "anonymous"
    _audit.warning("denied who=%s from=%s action=%s reason=%s", who, address or "-", action, reason)
