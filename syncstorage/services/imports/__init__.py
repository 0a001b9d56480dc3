"""Importing accounts and records from other Sync 1.1 servers (weave-minimal, FSyncMS):
sources.py (what a source yields, checked against the protocol's rules), one reader per
server, and importer.py (the verified, re-runnable import).  docs/migrating.md is the
operator's procedure."""
