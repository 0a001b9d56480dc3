"""Who may come in and how fast: authentication, passwords, abuse limits, client addresses, admission, node state."""
