"""Accounts: the user store interface (base.py), its SQL store and memcached front, user names, nodes and assignment."""
