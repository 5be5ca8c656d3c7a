"""The domain rules of SPEC §1 and §2, their only home.

Functions take a SQLAlchemy session and plain values, flush but never commit, and raise a typed
:class:`~controlplane.rules.errors.RuleError`. The CLI, dashboard and API only translate.
"""
