"""NVIDIA DCGM exporters (``:9400/metrics``) of one or many nodes, as a telemetry backend.

Each GPU an exporter lists becomes a device ``<node>/gpu<index>`` (node: the exporter's
``Hostname`` label, else the URL's host:port), with the same telemetry keys as NVML: clocks,
temperatures, power, energy (the mJ counter, resets handled), utilisation, memory used, DRAM
bandwidth (``DCGM_FI_PROF_DRAM_ACTIVE``, the share of cycles the memory interface is busy) and
the clock-event (throttle) reasons decoded to NVML's names. The exporters are scraped in
parallel, each with a bounded wait; a node that does not answer reads n/a for that sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

from tpstui.sources.telemetry.base import BackendUnavailable, DeviceInfo, Reading
from tpstui.sources.telemetry.nvml_device import decode_reasons
from tpstui.sources.telemetry.prometheus import (
    CounterDeltas,
    Exposition,
    ScrapeError,
    Series,
    scrape,
    scrape_client,
)

__all__ = ["DCGM_FIELDS", "DcgmBackend", "dcgm_readings"]

DCGM_FIELDS: dict[str, tuple[str, float]] = {
    "DCGM_FI_DEV_SM_CLOCK": ("sm_clock_mhz", 1.0),
    "DCGM_FI_DEV_MEM_CLOCK": ("mem_clock_mhz", 1.0),
    "DCGM_FI_DEV_GPU_TEMP": ("temp_c", 1.0),
    "DCGM_FI_DEV_MEMORY_TEMP": ("temp_mem_c", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("power_w", 1.0),
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": ("power_limit_w", 1.0),
    "DCGM_FI_DEV_GPU_UTIL": ("util_pct", 1.0),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("mem_busy_pct", 1.0),
    "DCGM_FI_DEV_FB_USED": ("mem_used_mb", 1.0),
    "DCGM_FI_PROF_DRAM_ACTIVE": ("bw_util_pct", 100.0),
    "DCGM_FI_DEV_POWER_VIOLATION": ("violation_power_s", 1e-6),
    "DCGM_FI_DEV_THERMAL_VIOLATION": ("violation_thermal_s", 1e-6),
}
"""DCGM field → (tpstui key, scale). Violation counters are in µs; DRAM_ACTIVE is a 0-1 ratio."""
ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
"""Energy since the driver loaded, in mJ (a counter)."""
REASONS = ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS")
"""The NVML clock-event bit mask (field 112), under its current and its older name."""
FB_FREE = "DCGM_FI_DEV_FB_FREE"


def _node(url: str, series: Sequence[Series]) -> str:
    for item in series:
        if item.labels.get("Hostname"):
            return item.labels["Hostname"]
    return urlparse(url).netloc.rsplit("@", 1)[-1] or url


class _Energy:
    """The energy counter of one GPU in J, continued across counter resets (exporter or driver restarts)."""

    def __init__(self) -> None:
        self._deltas = CounterDeltas()
        self.joules: float | None = None

    def add(self, millijoules: float) -> float:
        """The energy in J now: the counter's first value, then the sum of its increases."""
        delta = self._deltas.delta(0, millijoules)
        self.joules = millijoules / 1000.0 if self.joules is None else self.joules + (delta or 0.0) / 1000.0
        return self.joules


def dcgm_readings(node: str, series: Sequence[Series], energy: dict[str, _Energy]) -> dict[str, Reading]:
    """One Reading per GPU of one exporter's scrape (``energy`` keeps each GPU's counter across scrapes)."""
    readings: dict[str, Reading] = {}
    free: dict[str, float] = {}
    for item in series:
        gpu = item.labels.get("gpu")
        if gpu is None:
            continue
        device = f"{node}/gpu{gpu}"
        reading = readings.setdefault(device, Reading(device, {}))
        name = item.name.removesuffix("_total")  # the parser names counter samples <name>_total
        if name in DCGM_FIELDS:
            key, scale = DCGM_FIELDS[name]
            reading.values[key] = item.value * scale
        elif name == ENERGY:
            reading.values["energy_j"] = energy.setdefault(device, _Energy()).add(item.value)
        elif name in REASONS:
            reading.reasons = decode_reasons(int(item.value))
        elif name == FB_FREE:
            free[device] = item.value
    for device, value in free.items():
        used = readings[device].values.get("mem_used_mb")
        if used is not None:
            readings[device].values["mem_total_mb"] = used + value
    return readings


class DcgmBackend:
    """Scrapes every exporter URL each sample, in parallel; one device per GPU listed."""

    name = "dcgm"

    def __init__(self, urls: Sequence[str], timeout_s: float = 2.0) -> None:
        if not urls:
            raise BackendUnavailable("no DCGM exporter URL given")
        self.urls = list(urls)
        self._clients = [scrape_client(timeout_s) for _ in self.urls]
        self._parsers = [Exposition() for _ in self.urls]
        self._pool = ThreadPoolExecutor(max_workers=min(len(self.urls), 16), thread_name_prefix="tpstui-dcgm")
        self._energy: dict[str, _Energy] = {}
        self._nodes: dict[str, str] = {}
        """URL → node name, once it has answered."""
        self._known: dict[str, list[str]] = {}
        """URL → its GPUs' device ids, once it has answered."""
        self._infos: dict[str, DeviceInfo] = {}
        self.errors: dict[str, str] = {}
        """URL → why its last scrape failed (gone once it answers again)."""
        first = self._scrape_all()
        if not any(not isinstance(result, ScrapeError) for result in first):
            self.close()
            reasons = "; ".join(str(result) for result in first)
            raise BackendUnavailable(f"no DCGM exporter answered ({reasons})")
        self._first: list[Any] | None = first

    def _scrape_all(self) -> list[list[Series] | ScrapeError]:
        def one(index: int) -> list[Series] | ScrapeError:
            try:
                return scrape(self._clients[index], self.urls[index], self._parsers[index])
            except ScrapeError as error:
                return error

        return list(self._pool.map(one, range(len(self.urls))))

    def devices(self) -> list[DeviceInfo]:
        return list(self._infos.values())

    def sample(self) -> list[Reading]:
        results, self._first = (self._first, None) if self._first is not None else (self._scrape_all(), None)
        readings: list[Reading] = []
        for url, result in zip(self.urls, results, strict=True):
            if isinstance(result, ScrapeError):
                self.errors[url] = str(result)
                readings += [Reading(device, {}, stale=True) for device in self._known.get(url, [])]
                continue
            self.errors.pop(url, None)
            node = self._nodes.setdefault(url, _node(url, result))
            found = dcgm_readings(node, result, self._energy)
            self._known[url] = list(found)
            for device, reading in found.items():
                if device not in self._infos:
                    self._infos[device] = self._info(device, url, result)
                readings.append(reading)
        return readings

    def _info(self, device: str, url: str, series: Sequence[Series]) -> DeviceInfo:
        gpu = device.rsplit("/gpu", 1)[1]
        labels = next((s.labels for s in series if s.labels.get("gpu") == gpu), {})
        details = {"exporter": url} | {
            label: labels[label] for label in ("modelName", "UUID", "pci_bus_id", "Hostname") if label in labels
        }
        names = {s.name.removesuffix("_total") for s in series if s.labels.get("gpu") == gpu}
        keys = {DCGM_FIELDS[name][0] for name in names if name in DCGM_FIELDS}
        keys |= {"energy_j"} if ENERGY in names else set()
        return DeviceInfo(device, labels.get("modelName", "GPU"), self.name, details, tuple(sorted(keys)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in self._clients:
            client.close()
