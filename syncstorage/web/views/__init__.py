"""Request handlers: storage.py (Storage API), users.py (User API), pages.py (HTML), ops.py (health)."""
