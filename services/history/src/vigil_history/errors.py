"""Errors of the history service.

HistoryError          root of the service's exceptions
└── BadQuery          a query that cannot be answered as asked; the text says why
    (it is answered INVALID_MESSAGE, and the service stays up)
"""


class HistoryError(Exception):
    """Root of the history service's exceptions."""


class BadQuery(HistoryError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
