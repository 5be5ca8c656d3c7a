"""Repeated failed client authentication -> 429 (SPEC §3 Operations; docs/operations.md).

Only failures are counted, and the counters are consulted only once authentication has
failed: a successful token request never touches the rate-limit storage, so other clients are
not slowed, and a correct secret is never refused. An attacker sending wrong secrets for a
client_id can therefore not lock that client out; what the limit changes is the answer to
failures (``429`` with ``Retry-After`` instead of ``401``), which tells a misconfigured client
to back off. Guessing is not what it stops: secrets are 256-bit random (SPEC §1.5).

Counters live in the storage of ``CONTROLPLANE_RATELIMIT_STORAGE_URL`` (Flask-Limiter's
storage URLs, through its engine ``limits``: ``memory://`` per process, ``redis://`` shared by
every worker and instance), in fixed windows that start at the first failure. A storage
outage fails open: the failure is answered ``401`` as if no limit existed, and logged.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from controlplane.config import Settings

log = logging.getLogger(__name__)

NAMESPACE = "failed-auth"
# After a storage error, failures skip the storage this long: a down or hung Redis must not
# make every failed request wait for a socket timeout.
BACKOFF_SECONDS = 5.0
# At most one warning per process this often while the storage stays down.
WARN_EVERY_SECONDS = 60.0
# A failure waits at most this long on Redis (connect, then each command).
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_SCHEMES = ("redis", "rediss", "redis+unix")


class FailedAuthLimiter:
    """Failed-authentication counters per client_id and per source address."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_storage_error: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage_url = settings.ratelimit_storage_url
        self.per_client: list[RateLimitItem] = parse_many(settings.ratelimit_failed_auth_per_client)
        self.per_address: list[RateLimitItem] = parse_many(
            settings.ratelimit_failed_auth_per_address
        )
        self._on_storage_error = on_storage_error
        self._clock = clock
        self._strategy: FixedWindowRateLimiter | None = None
        self._create_lock = threading.Lock()
        self._skip_until = 0.0
        self._warned_at = -math.inf
        self._errors_since_warning = 0

    def _limiter(self) -> FixedWindowRateLimiter:
        # Created on first use, in the worker (after gunicorn's fork): start-up needs no Redis.
        if self._strategy is None:
            with self._create_lock:
                if self._strategy is None:
                    self._strategy = FixedWindowRateLimiter(_storage(self.storage_url))
        return self._strategy

    def retry_after(self, client_id: str | None, address: str | None) -> int | None:
        """Count one failed authentication; the seconds to wait if a limit is now exceeded.

        None: under every limit (or the storage is unavailable: fail open).
        """
        now = self._clock()
        if now < self._skip_until:
            return None
        counters: list[tuple[RateLimitItem, str, str]] = []
        if client_id:
            counters += [(item, "client", client_id) for item in self.per_client]
        if address:
            counters += [(item, "address", address) for item in self.per_address]
        waits: list[float] = []
        try:
            limiter = self._limiter()
            for item, kind, value in counters:
                if not limiter.hit(item, NAMESPACE, kind, value):
                    reset_at, _remaining = limiter.get_window_stats(item, NAMESPACE, kind, value)
                    # Redis reports whole seconds: never more than the window itself.
                    waits.append(min(reset_at - now, item.get_expiry()))
        except Exception as err:  # any storage failure (refused, timeout, auth): fail open
            self._storage_failed(now, err)
            return None
        if not waits:
            return None
        return max(1, math.ceil(max(waits)))

    def _storage_failed(self, now: float, err: Exception) -> None:
        self._skip_until = now + BACKOFF_SECONDS
        self._errors_since_warning += 1
        if self._on_storage_error is not None:
            self._on_storage_error()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            # The error's type only: a Redis URL in its text may carry a password.
            log.warning(
                "rate-limit storage unavailable (%s), failing open: failed authentications "
                "are not limited (%d failures since the last warning)",
                type(err).__name__,
                self._errors_since_warning,
            )
            self._warned_at = now
            self._errors_since_warning = 0


def _storage(url: str) -> Storage:
    options: dict[str, float] = {}
    if urlsplit(url).scheme.lower() in REDIS_SCHEMES:
        options = {
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        }
    storage = storage_from_string(url, **options)
    if not isinstance(storage, Storage):  # an async+ scheme, which config.py refuses
        raise TypeError(f"not a synchronous rate-limit storage: {type(storage).__name__}")
    return storage


def init_app(app: Flask, *, on_storage_error: Callable[[], None] | None = None) -> None:
    settings: Settings = app.extensions["controlplane"].settings
    app.extensions["controlplane.failed_auth"] = FailedAuthLimiter(
        settings, on_storage_error=on_storage_error
    )


def limiter() -> FailedAuthLimiter:
    """The running app's limiter."""
    value: FailedAuthLimiter = current_app.extensions["controlplane.failed_auth"]
    return value
