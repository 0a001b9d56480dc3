"""HTML pages: the captcha widget and the password-reset form (spec §6)."""
from __future__ import annotations

import html

from webob import Response

from syncstorage.web import inputs
from syncstorage.wire.errors import NotFound, Throttled
from syncstorage.gate.passwords import hash_password, strong_enough
from syncstorage.web.views.users import check_reset_code

# Self-contained (no external font, script or style) and readable on a phone: one column
# that fills a narrow screen and stays narrow on a wide one, inputs large enough to tap.
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Firefox Sync - {title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 1rem; color: #1c1b22; background: #f9f9fb; }}
main {{ max-width: 28rem; margin: 0 auto; }}
h1 {{ font-size: 1.5rem; }}
label {{ display: block; font-weight: 600; }}
input {{ display: block; width: 100%; box-sizing: border-box; font-size: 1rem; padding: .6rem; margin-top: .25rem;
         border: 1px solid #8f8f9d; border-radius: 4px; }}
button {{ font-size: 1rem; padding: .7rem 1.2rem; border: 0; border-radius: 4px; background: #0061e0; color: #fff; }}
.error {{ color: #a4000f; background: #ffe8e8; padding: .6rem; border-radius: 4px; }}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def html_response(title: str, body: str, status: int = 200) -> Response:
    page = PAGE.format(title=html.escape(title), body=body)
    return Response(body=page.encode("utf-8"), status=status, content_type="text/html", charset="utf-8")


def captcha_html(services, call) -> Response:
    if not services.captcha.enabled:
        raise NotFound("captcha is disabled")
    return Response(body=services.captcha.widget_html().encode("utf-8"), content_type="text/html", charset="utf-8")


def _form(username: str = "", key: str = "", error: str = "") -> str:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return (message + '<form method="post" action="/weave-password-reset">'
            f'<p><label>User name <input name="username" autocomplete="username" autocapitalize="none" '
            f'value="{html.escape(username)}"></label></p>'
            f'<p><label>Reset code <input name="key" autocapitalize="characters" autocomplete="one-time-code" '
            f'value="{html.escape(key)}"></label></p>'
            '<p><label>New password <input type="password" name="password" autocomplete="new-password" '
            'minlength="8"></label></p>'
            '<p><label>Confirm <input type="password" name="confirm" autocomplete="new-password"></label></p>'
            '<p><button type="submit">Change password</button></p></form>')


def reset_form(services, call) -> Response:
    params = inputs.query_params(call.req)
    return html_response("Reset your password", _form(params.get("username", ""), params.get("key", "")))


def reset_submit(services, call) -> Response:
    form = inputs.form_params(call.req, services.settings.users.max_body_bytes)
    username, key = form.get("username", ""), form.get("key", "")
    password, confirm = form.get("password", ""), form.get("confirm", "")
    user = services.userdb.get_user(username) if username else None
    try:
        valid = user is not None and check_reset_code(services, call, user, key)
    except Throttled as throttled:
        minutes = (int(throttled.headers["Retry-After"]) + 59) // 60
        return html_response("Reset your password", _form(username, key, "Too many attempts. Try again in "
                                                                         f"{minutes} minutes."), 429)
    if not valid:
        return html_response("Reset your password", _form(username, key, "Unknown user or invalid reset code."), 400)
    if password != confirm:
        return html_response("Reset your password", _form(username, key, "The passwords do not match."), 400)
    if not strong_enough(password, user.username):
        return html_response("Reset your password",
                             _form(username, key, "Passwords need at least 8 characters and must not be the "
                                                  "user name."), 400)
    services.userdb.set_password(user, hash_password(password))
    return html_response("Password changed", "<p>Your password was changed. Use it in Firefox to sync again.</p>")
