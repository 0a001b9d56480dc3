"""Captcha answers for account creation and password reset.

Two verification protocols (``[users] captcha_protocol``):

* ``siteverify`` (the default): the protocol reCAPTCHA v2/v3, hCaptcha and
  Cloudflare Turnstile share -- POST ``secret``, ``response`` and ``remoteip``
  to the provider's verify URL, which answers JSON ``{"success": true|false}``.
* ``recaptcha-v1``: the original reCAPTCHA protocol of the Sync 1.1 era, whose
  service no longer exists; kept for servers that run a compatible verifier.

Sync 1.1 clients show ``/misc/1.0/captcha_html`` and read the fields
``recaptcha_challenge_field`` and ``recaptcha_response_field`` from it; the
siteverify page keeps those fields and fills the response field from the
widget's callback, so unchanged clients send the token as ``captcha-response``.
An unreachable verifier is a backend failure (503), not a wrong answer.
"""
from __future__ import annotations

import html
import json
import urllib.error
import urllib.parse
import urllib.request

from syncstorage.infra.dbengine import BackendError

SITEVERIFY_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<script src="{script}" async defer></script>
<script>function syncCaptchaDone(token) {{ document.getElementById("recaptcha_response_field").value = token; }}
</script></head>
<body><div class="{widget}" data-sitekey="{key}" data-callback="syncCaptchaDone"></div>
<input type="hidden" id="recaptcha_challenge_field" name="recaptcha_challenge_field" value="siteverify">
<input type="hidden" id="recaptcha_response_field" name="recaptcha_response_field" value="">
</body></html>
"""


class Captcha:
    def __init__(self, users_settings):
        self.enabled = users_settings.captcha
        self.protocol = users_settings.captcha_protocol
        self.public_key = users_settings.captcha_public_key
        self.secret = users_settings.captcha_secret
        self.verify_url = users_settings.captcha_verify_url
        self.script_url = users_settings.captcha_script_url
        self.widget_class = users_settings.captcha_widget_class
        self.timeout = users_settings.captcha_timeout

    def verify(self, challenge: str | None, response: str | None, remote_ip: str | None) -> bool:
        """True when the answer is right; False when missing or wrong; BackendError when the
        verifier cannot be asked."""
        if not response or (self.protocol == "recaptcha-v1" and not challenge):
            return False
        if self.protocol == "siteverify":
            answer = self._post({"secret": self.secret, "response": response, "remoteip": remote_ip or ""})
            try:
                return json.loads(answer).get("success") is True
            except (ValueError, AttributeError):
                raise BackendError("captcha verifier answered something that is not JSON") from None
        answer = self._post({"privatekey": self.secret, "remoteip": remote_ip or "", "challenge": challenge,
                             "response": response})
        return answer.splitlines()[:1] == ["true"]

    def _post(self, fields: dict[str, str]) -> str:
        data = urllib.parse.urlencode(fields).encode("ascii")
        try:
            with urllib.request.urlopen(self.verify_url, data=data, timeout=self.timeout) as answer:
                return answer.read(65536).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as error:
            raise BackendError(f"captcha verifier unreachable: {error}") from error

    def widget_html(self) -> str:
        if self.protocol == "siteverify":
            return SITEVERIFY_PAGE.format(script=html.escape(self.script_url), widget=html.escape(self.widget_class),
                                          key=html.escape(self.public_key))
        key = urllib.parse.quote(self.public_key)
        return ('<script type="text/javascript" src="https://www.google.com/recaptcha/api/challenge?k=%s"></script>\n'
                '<noscript><iframe src="https://www.google.com/recaptcha/api/noscript?k=%s" height="300" '
                'width="500" frameborder="0"></iframe><br><textarea name="recaptcha_challenge_field" rows="3" '
                'cols="40"></textarea><input type="hidden" name="recaptcha_response_field" '
                'value="manual_challenge"></noscript>\n' % (key, key))
