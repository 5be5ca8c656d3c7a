"""tests/node's pinned npm packages (openid-client, jose, axe-core, oidc-provider).

Installed with ``npm ci`` from the lockfile when ``node_modules`` is missing or was installed
from another lockfile (npm records the tree it installed in ``node_modules/.package-lock.json``),
so a checkout that gained a package does not run the tests against a stale tree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
MODULES = NODE_DIR / "node_modules"


def _installed_matches_lock() -> bool:
    installed = MODULES / ".package-lock.json"
    if not installed.is_file():
        return False
    wanted = json.loads((NODE_DIR / "package-lock.json").read_text())["packages"]
    have = json.loads(installed.read_text())["packages"]
    return all(
        have.get(path, {}).get("version") == entry.get("version")
        for path, entry in wanted.items()
        if path  # "" is the project itself
    )


def ensure_node_modules() -> Path:
    """The installed tree, running ``npm ci`` first when it does not match the lockfile."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.fail("node and npm are needed for these tests: `make test` installs them")
    if not _installed_matches_lock():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci in {NODE_DIR} failed:\n{result.stderr}")
    return MODULES
