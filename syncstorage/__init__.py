"""Firefox Sync 1.0/1.1 ("Weave") storage server and User API."""

__version__ = "0.1.0"
