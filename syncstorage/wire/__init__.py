"""The wire contract's vocabulary: errors and errnos, timestamps, output formats, records (WBOs)."""
