"""Counting issued tokens without touching the database on the token path (issue #6).

A token request stays one SQL statement (STYLE "A token request, one straight path"): each
process adds to an in-memory counter, and a daemon thread adds the counts to ``app_usage_day``
every ``CONTROLPLANE_USAGE_FLUSH_SECONDS`` (:func:`controlplane.rules.usage.add`, one UPSERT
per flush, so processes and instances add up). The process flushes once more when it exits
normally (``atexit``: gunicorn workers leave by ``sys.exit`` on SIGTERM, ``max_requests`` or a
graceful reload, so no ``worker_exit`` hook is needed).

What can be lost, by design: a worker killed with SIGKILL (or by gunicorn's ``timeout``) loses
the counts of at most one interval. A failed flush (database down) keeps its counts for the
next try; while the database stays away, memory is bounded by :data:`MAX_KEYS` distinct
(app, day) pairs, and tokens of further pairs are dropped and logged rather than held.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable
from datetime import date

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from controlplane.extensions import db
from controlplane.rules import usage as usage_rules

log = logging.getLogger(__name__)

EXTENSION = "controlplane.usage"
# Distinct (app, day) pairs one process holds at most while flushes fail: ~200 bytes each.
MAX_KEYS = 100_000

Key = tuple[uuid.UUID, date]


class UsageCounter:
    """Tokens issued by this process and not yet in the database, per (app, day)."""

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        *,
        interval: float,
        max_keys: int = MAX_KEYS,
        today: Callable[[], date] = usage_rules.today,
    ) -> None:
        self._engine_factory = engine_factory
        self._interval = interval
        self._max_keys = max_keys
        self._today = today
        self._reset()
        # A forked child (a gunicorn worker of a preloaded app) starts empty, with locks of its
        # own: the parent's counts are the parent's to flush, and a lock another thread held
        # at the fork would never be released in the child.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_ref(ref))

    def _reset(self) -> None:
        self._lock = threading.Lock()  # guards _pending and _dropped
        self._flush_lock = threading.Lock()  # one flush at a time (thread, atexit, tests)
        self._pending: dict[Key, int] = {}
        self._dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- the token path ----------------------------------------------------------------
    def count(self, app_id: uuid.UUID, n: int = 1) -> None:
        """Count ``n`` tokens issued to ``app_id`` now. No I/O; starts the flusher once."""
        key = (app_id, self._today())
        with self._lock:
            if self._thread is None and not self._closed:
                self._start()
            held = self._pending.get(key)
            if held is None and len(self._pending) >= self._max_keys:
                self._dropped += n
                return
            self._pending[key] = (held or 0) + n

    def pending(self) -> dict[Key, int]:
        """A copy of the counts not yet flushed."""
        with self._lock:
            return dict(self._pending)

    # --- flushing ------------------------------------------------------------------------
    def _start(self) -> None:
        """Called under ``_lock`` in the process that counts (after any fork)."""
        thread = threading.Thread(target=self._run, name="usage-flush", daemon=True)
        self._thread = thread
        thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:  # never let the flusher die: the next interval tries again
                log.exception("usage flush failed unexpectedly")

    def flush(self) -> int:
        """Add the pending counts to the database; return how many tokens were written.

        On a database error the counts go back to the pending set for the next flush.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
                dropped, self._dropped = self._dropped, 0
            if dropped:
                log.warning(
                    "usage: %d tokens were not counted: more than %d app-days pending "
                    "(database unreachable?)",
                    dropped,
                    self._max_keys,
                )
            if not batch:
                return 0
            try:
                with self._engine_factory().begin() as connection:
                    usage_rules.add(connection, batch)
            except IntegrityError:
                # An app deleted since it got tokens fails the whole batch: add row by row.
                return self._flush_each(batch)
            except Exception as err:
                self._put_back(batch)
                log.warning(
                    "usage flush failed (%s); %d app-days kept for the next try",
                    type(err).__name__,
                    len(batch),
                )
                return 0
            return sum(batch.values())

    def _flush_each(self, batch: dict[Key, int]) -> int:
        written = 0
        items = list(batch.items())
        for index, (key, n) in enumerate(items):
            try:
                with self._engine_factory().begin() as connection:
                    usage_rules.add(connection, {key: n})
            except IntegrityError:
                continue  # the app is gone, and its usage with it (ON DELETE CASCADE)
            except Exception as err:
                self._put_back(dict(items[index:]))
                log.warning("usage flush failed (%s); counts kept", type(err).__name__)
                break
            written += n
        return written

    def _put_back(self, batch: dict[Key, int]) -> None:
        with self._lock:
            for key, n in batch.items():
                held = self._pending.get(key)
                if held is None and len(self._pending) >= self._max_keys:
                    self._dropped += n
                else:
                    self._pending[key] = (held or 0) + n

    def close(self, *, flush: bool = True) -> None:
        """Stop the flusher and (by default) flush what is left: at exit, and in tests."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._interval + 30)
        atexit.unregister(self.close)
        if flush:
            self.flush()
        else:
            with self._lock:
                self._pending.clear()


def _reset_ref(ref: weakref.ref[UsageCounter]) -> None:
    counter = ref()
    if counter is not None:
        counter._reset()


def init_app(app: Flask) -> UsageCounter:
    """One counter per app, writing through the app's engine (from any thread)."""
    settings = app.extensions["controlplane"].settings
    with app.app_context():
        engine = db.engine
    counter = UsageCounter(lambda: engine, interval=settings.usage_flush_seconds)
    app.extensions[EXTENSION] = counter
    return counter


def counter() -> UsageCounter:
    """The running app's counter."""
    found: UsageCounter = current_app.extensions[EXTENSION]
    return found


def count_token(app_id: uuid.UUID) -> None:
    """One token issued to ``app_id`` by this process (the token path's only usage work)."""
    counter().count(app_id)
