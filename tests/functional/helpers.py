"""Helpers for functional tests."""
import email
import email.policy
import time

from loadtest.services import wait_for


def wait_for_next_tick(seconds: float = 0.011) -> None:
    """Let the server clock move past the current 10 ms timestamp."""
    start = time.time()
    wait_for(lambda: time.time() - start >= seconds, 1.0, interval=0.002, what="the clock")


def seed(testapp, root):
    """A record that hostile requests must leave as it is (see intact)."""
    testapp.put(f"{root}/storage/c/keep", '{"payload": "precious", "sortindex": 1}')


def intact(testapp, root):
    record = testapp.get(f"{root}/storage/c/keep").json
    assert (record["payload"], record["sortindex"]) == ("precious", 1)


class Inbox:
    """Collects delivered envelopes; ``text(i)`` decodes a body as a mail reader would."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"

    def text(self, index: int) -> str:
        return email.message_from_bytes(self.messages[index].content, policy=email.policy.default).get_content()
