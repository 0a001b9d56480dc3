"""One request in flight, as the pipeline and the handlers see it."""
from __future__ import annotations

from dataclasses import dataclass, field

from webob import Request

from syncstorage.users.base import User
from syncstorage.users.nodes import Node


@dataclass
class Call:
    """The WebOb request, its server time (centiseconds, raised by a write that
    needed a later timestamp), the route's values, the client's address and,
    once authenticated (rules.authenticated), the user."""

    req: Request
    ts: int
    match: dict[str, str]
    route: str = ""
    role: str = ""  # the route's role: "storage", "users" or "ops"
    user: User | None = None
    headers: dict[str, str] = field(default_factory=dict)  # added to the response, whatever it is
    node: Node | None = None  # this storage node's row, once looked up for the request
    client: str = ""  # the client's address (gate.addresses.ClientAddresses)

    def add_backoff(self, seconds: int) -> None:
        """X-Weave-Backoff of at least ``seconds`` on the response."""
        current = int(self.headers.get("X-Weave-Backoff", 0))
        self.headers["X-Weave-Backoff"] = str(max(current, seconds))
