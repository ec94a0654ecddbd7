"""How invitations reach people: email (Django's email backends) and SMS (a provider interface).

A channel raises SendError when a message did not go; `permanent` says whether trying again can
help (a refused address) or not (the server is down: retried later with backoff).
"""

from __future__ import annotations


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
