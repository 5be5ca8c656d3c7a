"""axe-core (the npm package in tests/node) run inside the page by Playwright (issue #5 Tests).

The script is evaluated through the DevTools protocol, not added as a ``<script>`` tag, so a
Content-Security-Policy the dashboard may send later cannot block it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from playwright.sync_api import Page

from tests.support.gunicorn import REPO_ROOT

NODE_DIR = REPO_ROOT / "tests" / "node"
AXE_JS = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN = """async () => {
  const results = await window.axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""


@cache
def _source() -> str:
    return AXE_JS.read_text()


def axe_version(page: Page) -> str:
    _inject(page)
    return str(page.evaluate("() => window.axe.version"))


def _inject(page: Page) -> None:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source())


def all_violations(page: Page) -> list[dict[str, Any]]:
    """Every violation axe finds on the page as it is now, whatever its impact."""
    _inject(page)
    found: list[dict[str, Any]] = page.evaluate(_RUN)
    return found


def axe(page: Page) -> list[dict[str, Any]]:
    """The serious and critical violations on the page as it is now (empty when it passes)."""
    return [v for v in all_violations(page) if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    """One readable block per violation, for assertion messages."""
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']}")
        lines.extend(f"    {n['target']}: {n['summary']}" for n in v["nodes"])
    return "\n".join(lines)
