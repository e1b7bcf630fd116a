"""Scraping Prometheus text endpoints (an engine's ``/metrics``, DCGM exporters) for telemetry.

``scrape`` fetches one URL with a bounded wait (httpx) and parses it with ``prometheus_client``'s
text parser into ``Series`` (one per sample line: name, labels, value). A failed scrape (refused,
timed out, an HTTP error, a body that is not the text format) raises ``ScrapeError``: the caller
marks that source n/a for that sample and tries again next time (a network blip is not a dead
backend). ``CounterDeltas`` turns counters into increases between scrapes, handling resets.

``Exposition`` keeps, per source, what the library parser made of each sample line's name and
labels: an exporter sends the same lines with new values at every scrape, so later scrapes only
split each line and convert its value (about 15× less CPU than parsing again, measured); any line
it has not seen sends the whole body through the library parser again.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

__all__ = ["CounterDeltas", "Exposition", "ScrapeError", "Series", "parse_exposition", "scrape", "scrape_client"]

TIMEOUT_S = 2.0
MAX_BYTES = 32 * 1024 * 1024
"""A body larger than this is refused (a misdirected URL, not an exporter)."""


class ScrapeError(Exception):
    """One scrape failed; the message says how (one line)."""


class Series(NamedTuple):
    """One sample line of the exposition format (a tuple: thousands are made per scrape)."""

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


def _sample_lines(text: str) -> list[tuple[str, str]]:
    """(name-and-labels part, value part) of each sample line (comments and blank lines left out)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] == "#":
            continue
        cut = line.rfind("}") + 1 or line.find(" ")
        lines.append((line[:cut].rstrip(), line[cut:].strip()))
    return lines


class Exposition:
    """``parse_exposition`` for one source, remembering each line's name and labels between scrapes."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, dict[str, str]]] = {}

    def parse(self, text: str) -> list[Series]:
        lines = _sample_lines(text)
        keys = self._keys
        if lines and all(key in keys for key, _ in lines):
            try:
                return [Series(*keys[key], float(value.split()[0])) for key, value in lines]
            except (ValueError, IndexError):
                raise ScrapeError("not Prometheus text format (a value is not a number)") from None
        series = parse_exposition(text)
        if len(series) == len(lines):  # one sample per line, in order: remember what each line means
            self._keys = {key: (item.name, item.labels) for (key, _), item in zip(lines, series, strict=True)}
        return series


def scrape_client(timeout_s: float = TIMEOUT_S) -> Any:
    """An ``httpx.Client`` with the bounded waits scrapes use (connect and read)."""
    import httpx

    return httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=True, headers={"Accept": "text/plain"})


def scrape(client: Any, url: str, parser: Exposition | None = None) -> list[Series]:
    """GET ``url`` and parse it (with ``parser``'s memory of earlier scrapes); ``ScrapeError`` for
    anything that is not a usable metrics page."""
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
    return (parser or Exposition()).parse(response.text)


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
