"""The alerter's errors.

AlerterError
└── (none yet: a bad rule is refused by its model, `vigil.messages.RuleDraft`)
"""


class AlerterError(Exception):
    """Root of the alerter's errors."""
