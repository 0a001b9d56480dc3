"""Mail to a provider: implicit TLS with a verified certificate, and a login."""
import subprocess

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from loadtest.services import free_port, wait_for
from syncstorage.infra.config import load_settings
from syncstorage.infra.dbengine import BackendError
from syncstorage.infra.mailer import Mailer

from ..functional.helpers import Inbox


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"sync@example.com" and auth_data.password == b"app-password"
    return AuthResult(success=ok)


@pytest.fixture
def tls_smtp(tmp_path, monkeypatch):
    """An SMTP server speaking implicit TLS with a certificate for 127.0.0.1, trusted by this test only."""
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True, timeout=60)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=context,
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    yield controller, inbox
    controller.stop()


def mailer(port, **smtp):
    overrides = {"smtp.host": "127.0.0.1", "smtp.port": port, "smtp.security": "ssl", **smtp}
    return Mailer(load_settings(overrides=overrides, environ={}).smtp)


def test_implicit_tls_with_a_login(tls_smtp):
    controller, inbox = tls_smtp
    mailer(controller.port, **{"smtp.username": "sync@example.com", "smtp.password": "app-password"}).send(
        "you@example.com", "Reset", "your code")
    wait_for(lambda: inbox.messages, 5, what="the mail")
    assert inbox.text(0).strip() == "your code"


def test_a_wrong_password_is_a_backend_error(tls_smtp):
    controller, _inbox = tls_smtp
    with pytest.raises(BackendError):
        mailer(controller.port, **{"smtp.username": "sync@example.com", "smtp.password": "wrong"}).send(
            "you@example.com", "Reset", "your code")


def test_a_login_without_tls_is_refused_at_start():
    with pytest.raises(ValueError, match=r"\[smtp\] security"):
        load_settings(overrides={"smtp.username": "u", "smtp.security": "none"}, environ={})
