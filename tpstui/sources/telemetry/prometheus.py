"""Scraping Prometheus text endpoints (an engine's ``/metrics``, DCGM exporters) for telemetry.

``scrape`` fetches one URL with a bounded wait (httpx) and parses it with ``prometheus_client``'s
text parser into ``Series`` (one per sample line: name, labels, value). A failed scrape (refused,
timed out, an HTTP error, a body that is not the text format) raises ``ScrapeError``: the caller
marks that source n/a for that sample and tries again next time (a network blip is not a dead
backend). ``CounterDeltas`` turns counters into increases between scrapes, handling resets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["CounterDeltas", "ScrapeError", "Series", "parse_exposition", "scrape", "scrape_client"]

TIMEOUT_S = 2.0
MAX_BYTES = 32 * 1024 * 1024
"""A body larger than this is refused (a misdirected URL, not an exporter)."""


class ScrapeError(Exception):
    """One scrape failed; the message says how (one line)."""


@dataclass(frozen=True)
class Series:
    """One sample line of the exposition format."""

    name: str
    labels: dict[str, str]
    value: float


def parse_exposition(text: str) -> list[Series]:
    """Every sample of a Prometheus text (or OpenMetrics-like, ``# EOF``) body; ``ScrapeError`` on garbage."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return [
            Series(sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
    except Exception as error:  # the parser raises ValueError, IndexError... on malformed lines
        raise ScrapeError(f"not Prometheus text format ({type(error).__name__})") from None


def scrape_client(timeout_s: float = TIMEOUT_S) -> Any:
    """An ``httpx.Client`` with the bounded waits scrapes use (connect and read)."""
    import httpx

    return httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=True, headers={"Accept": "text/plain"})


def scrape(client: Any, url: str) -> list[Series]:
    """GET ``url`` and parse it; ``ScrapeError`` for anything that is not a usable metrics page."""
    import httpx

    try:
        response = client.get(url)
    except httpx.TimeoutException:
        raise ScrapeError(f"{url}: timed out") from None
    except httpx.HTTPError as error:
        raise ScrapeError(f"{url}: {type(error).__name__}") from None
    if response.status_code != 200:
        raise ScrapeError(f"{url}: HTTP {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise ScrapeError(f"{url}: body larger than {MAX_BYTES // (1024 * 1024)} MiB")
    return parse_exposition(response.text)


class CounterDeltas:
    """Increases of counters between scrapes, per (key); a counter that went down was reset.

    After a reset the increase is the new value (the counter restarted from 0), never negative.
    """

    def __init__(self) -> None:
        self._last: dict[object, float] = {}

    def delta(self, key: object, value: float) -> float | None:
        """The increase since the previous value of ``key`` (None the first time)."""
        if not math.isfinite(value):
            return None
        previous = self._last.get(key)
        self._last[key] = value
        if previous is None:
            return None
        return value - previous if value >= previous else value
