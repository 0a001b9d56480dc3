"""The HTTP edge: the WSGI pipeline, routes, request input, shared handler rules and the handlers."""
