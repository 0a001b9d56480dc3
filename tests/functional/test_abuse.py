"""An attacker on the open internet, behind the production proxy set-up: guessing
slows only the guesser, operators' pages stay private, reset mails cannot be
redirected, and reset codes and mails are limited."""
import re
import time
import uuid

import pytest
import webtest

from syncstorage.web.app import make_app
from loadtest.services import wait_for

from ..conftest import PASSWORD
from .test_user_api import reset_code_in

PROXY = {"REMOTE_ADDR": "127.0.0.1"}


def via_proxy(client_address: str) -> dict:
    """What gunicorn sees behind config/nginx.conf: the proxy's peer address, the client in X-Forwarded-For."""
    return {**PROXY, "HTTP_X_FORWARDED_FOR": client_address}


def test_guessing_through_the_proxy_slows_only_the_guesser(make_settings, make_user):
    settings = make_settings(server__trusted_proxies="127.0.0.1/32 ::1/128", abuse__account_failures=10,
                             abuse__address_failures=50, cache__prefix=_fresh())
    clock = _window_start(settings.abuse.window)
    app = webtest.TestApp(make_app(settings, clock=clock))
    owner = make_user(app, login=False)
    url = f"/1.1/{owner.username}/info/collections"
    app.get(url, extra_environ=via_proxy("203.0.113.5"), headers=_basic(owner.username, PASSWORD))

    statuses = [app.get(url, extra_environ=via_proxy("192.0.2.66"), headers=_basic(owner.username, f"guess{n}"),
                        expect_errors=True) for n in range(60)]
    assert [r.status_int for r in statuses[:10]] == [401] * 10
    refused = statuses[10:]
    assert {r.status_int for r in refused} == {503}  # not 401: a real client would think its password wrong
    assert all(int(r.headers["Retry-After"]) > 0 for r in refused)

    # the owner keeps syncing: from the verified device, and from a new device (another worker, new address)
    app.get(url, extra_environ=via_proxy("203.0.113.5"), headers=_basic(owner.username, PASSWORD))
    other_worker = webtest.TestApp(make_app(settings, clock=clock))
    other_worker.get(url, extra_environ=via_proxy("198.51.100.20"), headers=_basic(owner.username, PASSWORD))

    # the guesser moving on to other accounts is stopped by the address limit
    victims = [make_user(app, login=False) for _ in range(5)]
    answers = [app.get(f"/1.1/{v.username}/info/collections", extra_environ=via_proxy("192.0.2.66"),
                       headers=_basic(v.username, f"guess{n}"), expect_errors=True).status_int
               for v in victims for n in range(10)]
    assert answers.count(503) >= 10 and set(answers) <= {401, 503}
    for v in victims:  # and none of those accounts is locked for its owner
        app.get(f"/1.1/{v.username}/info/collections", extra_environ=via_proxy("203.0.113.77"),
                headers=_basic(v.username, PASSWORD))


def test_forwarded_for_from_anyone_else_is_not_believed(make_settings, make_user):
    """Without a trusted proxy, a guesser cannot escape the address limit by naming other addresses."""
    settings = make_settings(abuse__address_failures=5, abuse__account_failures=100, cache__prefix=_fresh())
    app = webtest.TestApp(make_app(settings, clock=_window_start(settings.abuse.window)))
    users = [make_user(app, login=False) for _ in range(3)]
    answers = [app.get(f"/1.1/{u.username}/info/collections", headers=_basic(u.username, "wrong-guess"),
                       extra_environ={"REMOTE_ADDR": "192.0.2.66", "HTTP_X_FORWARDED_FOR": f"10.0.0.{n}"},
                       expect_errors=True).status_int for n, u in enumerate(users * 3)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {503}


def test_operator_pages_are_private_behind_the_proxy(make_settings, user):
    app = webtest.TestApp(make_app(make_settings(server__trusted_proxies="127.0.0.1/32")))
    app.get("/__metrics__", extra_environ=via_proxy("203.0.113.9"), status=404)
    app.get("/__metrics__", extra_environ=via_proxy("127.0.0.1"), status=200)  # a local scraper through nginx
    app.get("/__metrics__", extra_environ=PROXY, status=200)  # scraping gunicorn directly


def _fresh() -> str:
    """A memcached key prefix of the test's own: limit counters are shared by whoever uses one."""
    return f"t{uuid.uuid4().hex[:10]}:"


def _window_start(window: int):
    """A clock at real speed that starts one second into a limit window: counts made during the
    test all land in one window (with the wall clock, a window ending mid-test resets them)."""
    origin = (time.time() // window + 1) * window + 1
    started = time.monotonic()
    return lambda: origin + time.monotonic() - started


def _basic(name, password):
    import base64
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


# -- password reset -------------------------------------------------------------------
@pytest.mark.parametrize("public_url", ["https://sync.example.com", ""])
def test_reset_mail_ignores_the_host_header(make_testapp, make_user, smtp_sink, public_url):
    controller, inbox = smtp_sink
    app = make_testapp(smtp__host="127.0.0.1", smtp__port=controller.port, users__public_url=public_url)
    account = make_user(app, login=False)
    app.get(f"/user/1.0/{account.username}/password_reset", headers={"Host": "evil.example"})
    wait_for(lambda: inbox.messages, 5, what="the reset mail")
    text = inbox.text(0)
    assert "evil.example" not in text
    code = reset_code_in(text)
    if public_url:
        assert f"https://sync.example.com/weave-password-reset?username={account.username}&key={code}" in text
    else:
        assert not re.search(r"https?://", text)


def test_reset_mails_and_code_guesses_are_limited(make_testapp, make_user, smtp_sink):
    controller, inbox = smtp_sink
    app = make_testapp(smtp__host="127.0.0.1", smtp__port=controller.port, abuse__reset_mails_per_account=2,
                       abuse__reset_code_failures=3, cache__prefix=_fresh(), clock=_window_start(3600))
    account = make_user(app, login=False)
    for _ in range(2):
        app.get(f"/user/1.0/{account.username}/password_reset")
    refused = app.get(f"/user/1.0/{account.username}/password_reset", status=503)
    assert int(refused.headers["Retry-After"]) > 0
    wait_for(lambda: len(inbox.messages) == 2, 5, what="two reset mails")
    code = reset_code_in(inbox.text(1))

    url = f"/user/1.0/{account.username}/password"
    for n in range(3):
        assert app.post(url, "new-password-1", headers={"X-Weave-Password-Reset": f"AAAA-BBBB-CCCC-{n:04d}"},
                        status=400).body == b"10"
    app.post(url, "new-password-1", headers={"X-Weave-Password-Reset": "AAAA-BBBB-CCCC-9999"}, status=503)
    page = app.post("/weave-password-reset", {"username": account.username, "key": code,
                                              "password": "new-password-9", "confirm": "new-password-9"},
                    status=429)
    assert "Too many attempts" in page.text
