"""Entry points for operators: the `syncstorage` command, the gunicorn runner, the capacity model."""
