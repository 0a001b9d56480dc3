"""Every command the runbook quotes exists: `syncstorage ...` and `python -m ...` answer --help,
`make ...` names a Makefile target."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / name for name in ("runbook.md", "cluster.md", "capacity.md", "migrating.md")]


def quoted_commands() -> list[str]:
    """Commands in indented code lines and in `backticks`, from their first word on."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        candidates = [line.strip() for line in text.splitlines() if line.startswith("    ")]
        candidates += re.findall(r"`([^`]+)`", text)
        for candidate in candidates:
            candidate = candidate.split("#")[0].strip()
            match = re.search(r"(?:^|\s)((?:syncstorage|python -m [\w.]+|make) [^|;]*|syncstorage)$", candidate)
            if match and "..." not in match.group(1):
                found.append(match.group(1).strip())
    return sorted(set(found))


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    return [sys.executable, "-m", "syncstorage.ops.cli", *words[1:]]


COMMANDS = quoted_commands()


def test_the_docs_quote_the_operator_commands():
    joined = "\n".join(COMMANDS)
    for needed in ("nodes add", "nodes drain", "nodes move-users", "nodes set", "node-status set", "migrate",
                   "purge-ttl", "capacity", "import weave-minimal", "import fsyncms", "user email"):
        assert f"syncstorage {needed}" in joined or f"ini {needed}" in joined, needed


@pytest.mark.services  # each command runs in a subprocess
@pytest.mark.parametrize("command", [c for c in COMMANDS if not c.startswith("make")])
def test_command_exists(command):
    result = subprocess.run([*_argv(command), "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, (command, result.stderr[-500:])
    assert "usage:" in result.stdout


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("make")])
def test_make_target_exists(command):
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    for word in shlex.split(command)[1:]:
        if "=" not in word:
            assert word in targets, command
