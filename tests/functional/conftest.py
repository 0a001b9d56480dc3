"""Fixtures of the functional tests."""
import pytest
from aiosmtpd.controller import Controller

from loadtest.services import free_port

from .helpers import Inbox


@pytest.fixture
def smtp_sink():
    """A real SMTP server on loopback collecting what the app sends: (controller, Inbox)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()
