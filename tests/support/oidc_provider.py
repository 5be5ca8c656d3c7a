"""A real OpenID provider on loopback standing in for Google (tests/node/google_provider.mjs).

:class:`GoogleStandIn` starts panva/oidc-provider with one client (ours) and a few accounts,
and plays the person at Google: :meth:`GoogleStandIn.approve` takes the authorization URL our
dashboard redirected to, signs in on the provider's own login page and returns the URL the
provider sends the browser back to (our callback, with ``code`` and ``state``).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import IO, Any
from urllib.parse import urljoin

import requests

from tests.support.node import NODE_DIR, ensure_node_modules
from tests.support.postgres import free_port


class _Forms(HTMLParser):
    """The forms of a page: action, method and the values of their inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({"action": values.get("action") or "", "fields": {}})
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["fields"][values["name"]] = values.get("value") or ""


@dataclass
class GoogleStandIn:
    issuer: str
    client_id: str
    client_secret: str
    process: subprocess.Popen[str]

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def approve(self, authorization_url: str, login: str) -> str:
        """Sign in as ``login`` at the provider; the URL it redirects back to (our callback)."""
        browser = requests.Session()
        url = authorization_url
        for _ in range(10):
            if not url.startswith(self.issuer):
                return url  # leaving the provider: back to the relying party
            response = browser.get(url, allow_redirects=False, timeout=10)
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                continue
            response.raise_for_status()
            parser = _Forms()
            parser.feed(response.text)
            if not parser.forms:
                raise AssertionError(f"no form on the provider's page:\n{response.text[:2000]}")
            form = parser.forms[0]
            fields = dict(form["fields"], login=login, password="any password")
            posted = browser.post(
                urljoin(url, form["action"]), data=fields, allow_redirects=False, timeout=10
            )
            if not posted.is_redirect:
                raise AssertionError(f"the provider refused the sign-in:\n{posted.text[:2000]}")
            url = urljoin(url, posted.headers["Location"])
        raise AssertionError("the provider kept redirecting")


@contextmanager
def google_stand_in(
    redirect_uri: str,
    accounts: Mapping[str, Mapping[str, Any]],
    *,
    client_id: str = "controlplane-dashboard",
    client_secret: str = "stand-in-google-client-secret-0123456789",  # noqa: S107 (a test value)
) -> Iterator[GoogleStandIn]:
    ensure_node_modules()
    port = free_port()
    # The provider's warnings, shown if it fails to start; closed when it stops.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
    process = subprocess.Popen(
        ["node", str(NODE_DIR / "google_provider.mjs")],
        cwd=NODE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(
        json.dumps(
            {
                "port": port,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
                "accounts": accounts,
            }
        )
    )
    process.stdin.close()
    try:
        issuer = _wait_ready(process, port, log)
        yield GoogleStandIn(issuer, client_id, client_secret, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        log.close()


def _wait_ready(process: subprocess.Popen[str], port: int, log: IO[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()  # the ready line, or "" when the provider exits
    match = re.fullmatch(r"ready (\S+)\n", line)
    if match is None:
        process.kill()
        process.wait()
        log.seek(0)
        raise RuntimeError(f"the OpenID provider did not start on port {port}:\n{line}{log.read()}")
    return match.group(1)
