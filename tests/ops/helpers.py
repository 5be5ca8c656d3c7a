"""Reading ``/metrics`` the way Prometheus does, and the log lines a server wrote."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition: (name, labels) -> value."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series is absent (as PromQL would read a fresh one)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def families(text: str) -> dict[str, str]:
    """Metric family name -> type."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON; fails on the first line that is not a JSON object."""
    parsed = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"line {number} is not JSON: {line[:300]}") from None
        assert isinstance(entry, dict), line
        parsed.append(entry)
    return parsed


def request_lines(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry.get("logger") == "controlplane.request"]
