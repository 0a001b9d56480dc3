"""User API 1.0 (spec §6): accounts, node, passwords, e-mail, reset codes by SMTP, captcha."""
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import pytest

from loadtest.services import free_port, wait_for
from syncstorage.users.names import username_from_account

from ..conftest import PASSWORD

EMAIL = "john@example.com"
NAME = username_from_account(EMAIL)


def unique_account():
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    return email, username_from_account(email)


def create(testapp, name, body, status=200, headers=None):
    return testapp.put(f"/user/1.0/{name}", json.dumps(body) if not isinstance(body, str) else body,
                       status=status, headers=headers or {})


def test_account_lifecycle(testapp):
    email, name = unique_account()
    assert testapp.get(f"/user/1.0/{name}").text == "0"
    res = create(testapp, name, {"email": email, "password": "s3cret-password"})
    assert res.text == name and res.content_type == "text/plain"
    assert testapp.get(f"/user/1/{name}/").text == "1"
    assert create(testapp, name, {"email": email, "password": "s3cret-password"}, status=400).body == b"4"
    testapp.authorization = ("Basic", (name, "s3cret-password"))
    testapp.put(f"/1.1/{name}/storage/c/a", '{"payload": "x"}')
    assert testapp.delete(f"/user/1.0/{name}").text == "1"
    assert testapp.get(f"/user/1.0/{name}").text == "0"
    # recreating the account finds no old data
    create(testapp, name, {"email": email, "password": "s3cret-password"})
    assert testapp.get(f"/1.1/{name}/info/collections").json == {}


@pytest.mark.parametrize("body,errno", [
    ("not json", b"6"), ({"password": "s3cret-password"}, b"12"), ({"email": "nope", "password": "x" * 9}, b"12"),
    ({"email": "other@example.com", "password": "s3cret-password"}, b"15"), ({"email": "{email}"}, b"7"),
    ({"email": "{email}", "password": ""}, b"7"), ({"email": "{email}", "password": "short"}, b"9"),
])
def test_account_creation_checks(testapp, body, errno):
    email, name = unique_account()
    if isinstance(body, dict):
        body = {k: v.replace("{email}", email) for k, v in body.items()}
    assert create(testapp, name, body, status=400).body == errno
    assert testapp.get(f"/user/1.0/{name}").text == "0"


def test_password_equal_to_username_is_weak(make_testapp):
    app = make_testapp(users__strict_usernames=False)
    name = "plain" + uuid.uuid4().hex[:10]
    assert create(app, name, {"email": "a@example.com", "password": name.upper()}, status=400).body == b"9"
    assert create(app, "x" * 33, {"email": "a@example.com", "password": "good-password"}, status=400).body == b"3"
    assert create(app, name, {"email": "a@example.com", "password": "good-password"}).text == name


def test_node_weave(testapp, make_user):
    account = make_user(testapp, login=False)
    res = testapp.get(f"/user/1.0/{account.username}/node/weave")
    assert res.text == "https://node.example.com/"
    testapp.authorization = ("Basic", (account.username, "whatever"))  # credentials are ignored
    assert testapp.get(f"/user/1.0/{account.username}/node/weave").text == "https://node.example.com/"
    testapp.get("/user/1.0/nobody-here/node/weave", status=404)


@pytest.mark.parametrize("configured,expected", [("", "null"), ("sync.example.org", "https://sync.example.org/"),
                                                 ("http://h:8000", "http://h:8000/"), ("auto", "http://localhost/")])
def test_node_url_normalisation(make_testapp, make_user, configured, expected):
    app = make_testapp(node__url=configured)
    account = make_user(app, login=False)
    assert app.get(f"/user/1.0/{account.username}/node/weave").text == expected


def test_password_change_with_basic_auth(testapp, make_user):
    account = make_user(testapp)
    res = testapp.post(f"/user/1.0/{account.username}/password", "a-new-password")
    assert res.text == "success"
    testapp.get(f"/1.1/{account.username}/info/collections", status=401)  # old password: at once
    testapp.authorization = ("Basic", (account.username, "a-new-password"))
    testapp.get(f"/1.1/{account.username}/info/collections")
    assert testapp.post(f"/user/1.0/{account.username}/password", "short", status=400).body == b"9"
    testapp.authorization = ("Basic", (account.username, "wrong"))
    testapp.post(f"/user/1.0/{account.username}/password", "another-password", status=401)


def test_email_change(testapp, make_user):
    account = make_user(testapp)
    assert testapp.post(f"/user/1.0/{account.username}/email", "new@example.org").text == "new@example.org"
    assert testapp.app.services.userdb.get_user(account.username).email == "new@example.org"
    assert testapp.post(f"/user/1.0/{account.username}/email", "not an address", status=400).body == b"12"


# -- password reset through a real SMTP sink --------------------------------------
def reset_code_in(text: str) -> str:
    return re.search(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){3}", text).group()


def test_password_reset_by_mailed_code(make_testapp, make_user, smtp_sink):
    controller, inbox = smtp_sink
    app = make_testapp(smtp__host="127.0.0.1", smtp__port=controller.port, smtp__sender="sync@example.com",
                       users__public_url="https://sync.example.com/")
    account = make_user(app, email="reset-me@example.com", login=False)
    assert app.get(f"/user/1.0/{account.username}/password_reset").text == "success"
    wait_for(lambda: inbox.messages, 5, what="the reset mail")
    message = inbox.messages[0]
    assert message.rcpt_tos == ["reset-me@example.com"] and message.mail_from == "sync@example.com"
    code = reset_code_in(inbox.text(0))
    assert f"https://sync.example.com/weave-password-reset?username={account.username}&key={code}" in inbox.text(0)

    url = f"/user/1.0/{account.username}/password"
    assert app.post(url, "new-password-1", headers={"X-Weave-Password-Reset": "AAAA-BBBB-CCCC-DDDD"},
                    status=400).body == b"10"
    assert app.post(url, "new-password-1", headers={"X-Weave-Password-Reset": code}).text == "success"
    app.authorization = ("Basic", (account.username, "new-password-1"))
    app.get(f"/1.1/{account.username}/info/collections")
    # the code is used up
    assert app.post(url, "new-password-2", headers={"X-Weave-Password-Reset": code}, status=400).body == b"10"
    app.post("/user/1.0/nobody-at-all/password", "new-password-1",
             headers={"X-Weave-Password-Reset": code}, status=404)


def test_password_reset_errors(make_testapp, make_user, smtp_sink):
    controller, inbox = smtp_sink
    app = make_testapp(smtp__host="127.0.0.1", smtp__port=controller.port)
    assert app.get("/user/1.0/nobody-at-all/password_reset", status=400).body == b"3"
    no_mail = make_user(app, email=None, login=False)
    assert app.get(f"/user/1.0/{no_mail.username}/password_reset", status=400).body == b"12"
    assert inbox.messages == []


def test_password_reset_when_mail_is_down_is_503(make_testapp, make_user):
    app = make_testapp(smtp__host="127.0.0.1", smtp__port=free_port())
    account = make_user(app, login=False)
    res = app.get(f"/user/1.0/{account.username}/password_reset", status=503)
    assert res.headers["Retry-After"] == "1800"


def test_reset_page_and_clearing_a_code(make_testapp, make_user, smtp_sink):
    controller, inbox = smtp_sink
    app = make_testapp(smtp__host="127.0.0.1", smtp__port=controller.port)
    account = make_user(app, login=False)
    app.get(f"/user/1.0/{account.username}/password_reset")
    wait_for(lambda: inbox.messages, 5, what="the reset mail")
    code = reset_code_in(inbox.text(0))
    form = app.get(f"/weave-password-reset?username={account.username}&key={code}")
    assert code in form.text and "<form" in form.text
    bad = app.post("/weave-password-reset", {"username": account.username, "key": code,
                                             "password": "new-password-9", "confirm": "different"}, status=400)
    assert "do not match" in bad.text
    ok = app.post("/weave-password-reset", {"username": account.username, "key": code,
                                            "password": "new-password-9", "confirm": "new-password-9"})
    assert "changed" in ok.text
    app.authorization = ("Basic", (account.username, "new-password-9"))
    app.get(f"/1.1/{account.username}/info/collections")
    # a fresh code can be cancelled by its owner
    app.get(f"/user/1.0/{account.username}/password_reset")
    wait_for(lambda: len(inbox.messages) == 2, 5, what="the second mail")
    code2 = reset_code_in(inbox.text(1))
    assert app.delete(f"/user/1.0/{account.username}/password_reset").text == "success"
    app.post(f"/user/1.0/{account.username}/password", "new-password-3",
             headers={"X-Weave-Password-Reset": code2}, status=400)


# -- captcha (siteverify and reCAPTCHA v1, answered by a local verifier) -------------
@pytest.fixture
def captcha_verifier():
    """An HTTP verifier on loopback that accepts the answer 'right': siteverify JSON when asked
    with ``secret``, the v1 text answer when asked with ``privatekey``."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            seen.append(form)
            if "secret" in form:
                ok = form.get("response") == ["right"] and form.get("secret") == ["private-key"]
                body = json.dumps({"success": ok, "error-codes": [] if ok else ["invalid-input-response"]}).encode()
            else:
                ok = form.get("response") == ["right"] and form.get("privatekey") == ["private-key"]
                body = b"true\n" if ok else b"false\nincorrect-captcha-sol"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/verify", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("protocol", ["siteverify", "recaptcha-v1"])
def test_captcha_on_account_creation(make_testapp, captcha_verifier, protocol):
    url, seen = captcha_verifier
    app = make_testapp(users__captcha=True, users__captcha_secret="private-key", users__captcha_verify_url=url,
                       users__captcha_public_key="public-key", users__shared_secret="letmein",
                       users__captcha_protocol=protocol)
    email, name = unique_account()
    body = {"email": email, "password": "s3cret-password"}
    assert create(app, name, body, status=400).body == b"2"  # no answer
    assert create(app, name, {**body, "captcha-challenge": "c", "captcha-response": "wrong"}, status=400).body == b"2"
    assert create(app, name, {**body, "captcha-challenge": "c", "captcha-response": "right"}).text == name
    assert seen[-1]["challenge" if protocol == "recaptcha-v1" else "secret"] == ["c" if protocol == "recaptcha-v1"
                                                                                else "private-key"]
    email2, name2 = unique_account()
    create(app, name2, {"email": email2, "password": "s3cret-password"}, headers={"X-Weave-Secret": "nope"},
           status=400)
    create(app, name2, {"email": email2, "password": "s3cret-password"}, headers={"X-Weave-Secret": "letmein"})
    html = app.get("/misc/1.0/captcha_html")
    assert "public-key" in html.text and html.content_type == "text/html"
    # what Sync 1.1 clients read from the page: the v1 field names
    assert 'name="recaptcha_response_field"' in html.text and 'recaptcha_challenge_field' in html.text


def test_captcha_html_is_404_when_disabled(testapp):
    testapp.get("/misc/1.0/captcha_html", status=404)


def test_captcha_verifier_down_is_503(make_testapp):
    app = make_testapp(users__captcha=True, users__captcha_verify_url=f"http://127.0.0.1:{free_port()}/verify",
                       users__captcha_public_key="public-key", users__captcha_secret="private-key")
    email, name = unique_account()
    res = create(app, name, {"email": email, "password": "s3cret-password", "captcha-challenge": "c",
                             "captcha-response": "right"}, status=503)
    assert "Retry-After" in res.headers


def test_delete_account_requires_its_credentials(testapp, make_user):
    victim = make_user(testapp, login=False)
    make_user(testapp)
    testapp.delete(f"/user/1.0/{victim.username}", status=401)
    testapp.authorization = ("Basic", (victim.username, PASSWORD))
    testapp.delete(f"/user/1.0/{victim.username}")
