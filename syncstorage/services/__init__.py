"""The composition root (root.py) and the operations that span users and storage: account deletion, moves, migrations."""
