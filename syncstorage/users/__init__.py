"""Accounts: the user database (users/sql.py) and user-name rules (users/names.py)."""
