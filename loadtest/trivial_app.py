"""The ceiling: the cheapest WSGI app gunicorn can serve, measured with the same settings."""


def application(environ, start_response):
    body = b"{}"
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
