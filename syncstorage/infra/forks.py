"""What a forked child (a gunicorn worker) must not inherit."""
from __future__ import annotations

import os
import weakref


def reset_in_child(reset) -> None:
    """Call ``reset`` (a bound method) in every child forked from now on, for as long as its
    object lives.  A fork copies locks as they are, possibly held by a thread the child
    does not have, and buffers that are the parent's to flush: the object starts afresh."""
    method = weakref.WeakMethod(reset)

    def after_fork() -> None:
        bound = method()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=after_fork)
