"""reCAPTCHA answers for account creation and password reset (v1 verify protocol).

The client sends ``captcha-challenge`` and ``captcha-response``; the server
POSTs them with its private key to the verify URL, whose answer starts with
``true`` or ``false``.  An unreachable verifier is a backend failure (503), not
a wrong answer.
"""
from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from syncstorage.infra.dbengine import BackendError


class Captcha:
    def __init__(self, users_settings):
        self.enabled = users_settings.captcha
        self.public_key = users_settings.captcha_public_key
        self.secret = users_settings.captcha_secret
        self.verify_url = users_settings.captcha_verify_url
        self.timeout = users_settings.captcha_timeout

    def verify(self, challenge: str | None, response: str | None, remote_ip: str | None) -> bool:
        """True when the answer is right; False when missing or wrong."""
        if not challenge or not response:
            return False
        data = urllib.parse.urlencode({"privatekey": self.secret, "remoteip": remote_ip or "",
                                       "challenge": challenge, "response": response}).encode("ascii")
        try:
            with urllib.request.urlopen(self.verify_url, data=data, timeout=self.timeout) as answer:
                first_line = answer.read(256).decode("utf-8", "replace").splitlines()[:1]
        except (urllib.error.URLError, OSError) as error:
            raise BackendError(f"captcha verifier unreachable: {error}") from error
        return first_line == ["true"]

    def widget_html(self) -> str:
        key = urllib.parse.quote(self.public_key)
        return ('<script type="text/javascript" src="https://www.google.com/recaptcha/api/challenge?k=%s"></script>\n'
                '<noscript><iframe src="https://www.google.com/recaptcha/api/noscript?k=%s" height="300" '
                'width="500" frameborder="0"></iframe><br><textarea name="recaptcha_challenge_field" rows="3" '
                'cols="40"></textarea><input type="hidden" name="recaptcha_response_field" '
                'value="manual_challenge"></noscript>\n' % (key, key))
