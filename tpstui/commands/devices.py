"""``tpstui devices``: the GPUs and the CPU tpstui can watch, their driver and library versions,
and which metrics each one answers (the rest read "n/a")."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["GPU_METRICS", "add_parser", "collect_devices", "run_devices"]

GPU_METRICS = (
    "temp_c",
    "temp_hotspot_c",
    "temp_hotspot_max_c",
    "temp_mem_c",
    "temp_slowdown_c",
    "temp_shutdown_c",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "power_w",
    "power_limit_w",
    "energy_j",
    "util_pct",
    "mem_busy_pct",
    "bw_util_pct",
    "bw_peak_gbs",
    "mem_used_mb",
    "violation_power_s",
    "violation_thermal_s",
    "reasons",
)
"""What a GPU can report, in display order; "reasons" are the decoded throttle reasons."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "devices",
        help="list the GPUs and CPU tpstui can watch: versions and supported metrics",
        description="List every GPU (NVML, AMD SMI) and the CPU, with driver and library versions "
        "and the metrics each answers; metrics it does not answer read n/a.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--probe-bw", action="store_true", help="measure the CPU's memory bandwidth again (the peak for CPU MBU)"
    )
    parser.add_argument(
        "--dcgm", metavar="URL[,URL...]", help="also list what each of these DCGM exporters answers (one per node)"
    )
    parser.set_defaults(handler=run_devices)


def _label(key: str) -> str:
    from tpstui.stream.fields import field

    if key == "reasons":
        return "throttle reasons"
    described = field(key)
    return f"{described.label} ({described.unit})" if key.startswith("bw_") else described.label


def _ordered(keys: list[str]) -> list[str]:
    """Keys in the vocabulary's order (telemetry.fields), throttle reasons last."""
    from tpstui.stream.fields import FIELDS

    order = {key: i for i, key in enumerate([*FIELDS, "reasons"])}
    return sorted(keys, key=lambda k: (order.get(k, len(order)), k))


def collect_devices(probe_bandwidth: bool = False) -> dict[str, Any]:
    """Try every backend (not just the first that works, as ``--telemetry auto`` does); a driver
    that hangs is reported as not answering after ``driver_timeout()`` seconds, never waited on."""
    from tpstui.sources.telemetry.bandwidth import cached_cpu_bandwidth, cpu_peak_bandwidth
    from tpstui.sources.telemetry.base import BackendUnavailable
    from tpstui.sources.telemetry.bounded import DriverHung, driver_timeout
    from tpstui.sources.telemetry.select import BACKENDS, TelemetryOptions, open_bounded

    result: dict[str, Any] = {}
    for name, entry in BACKENDS.items():
        try:
            backend = open_bounded(name, TelemetryOptions(gpus=()), wait=driver_timeout())
            try:
                infos = backend.devices()
            finally:
                backend.close()
        except (BackendUnavailable, DriverHung) as error:
            result[name] = {"available": False, "reason": str(error), "devices": []}
            continue
        devices = []
        for info in infos:
            supported = _ordered([k for k in info.supported if not k.startswith("core")])
            device_entry: dict[str, Any] = {
                "device": info.device,
                "name": info.name,
                "details": dict(info.details),
                "supported": supported,
            }
            if entry.gpu:
                device_entry["not_supported"] = [k for k in GPU_METRICS if k not in info.supported]
            else:
                peak = cpu_peak_bandwidth(refresh=True) if probe_bandwidth else cached_cpu_bandwidth()
                device_entry["details"]["memory bandwidth"] = (
                    f"{peak:.1f} GB/s (measured)" if peak else "not measured yet"
                )
            devices.append(device_entry)
        result[name] = {"available": True, "devices": devices}
    return result


def _text(result: dict[str, Any]) -> str:
    from tpstui.sources.telemetry.select import BACKENDS

    lines: list[str] = []
    for name, backend in result.items():
        title = BACKENDS[name].title if name in BACKENDS else name
        if not backend["available"]:
            lines.append(f"{title}: not available ({backend['reason']})")
            continue
        lines.append(f"{title}:")
        for device in backend["devices"]:
            lines.append(f"  {device['device']:<5} {device['name']}")
            for key, value in device["details"].items():
                lines.append(f"        {key}: {value}")
            lines.append("        metrics: " + (", ".join(_label(k) for k in device["supported"]) or "none answered"))
            if device.get("not_supported"):
                lines.append("        n/a: " + ", ".join(_label(k) for k in device["not_supported"]))
    return "\n".join(lines)


def collect_exporters(urls: list[str]) -> dict[str, Any]:
    """Each DCGM exporter's GPUs and the metrics it answers, keyed ``dcgm <url>``."""
    from tpstui.sources.telemetry.base import BackendUnavailable
    from tpstui.sources.telemetry.dcgm import DcgmBackend

    result: dict[str, Any] = {}
    for url in urls:
        try:
            backend = DcgmBackend([url])
        except BackendUnavailable as error:
            result[f"dcgm {url}"] = {"available": False, "reason": str(error), "devices": []}
            continue
        try:
            backend.sample()
            infos = backend.devices()
        finally:
            backend.close()
        devices = [
            {
                "device": info.device,
                "name": info.name,
                "details": dict(info.details),
                "supported": _ordered([*info.supported, "reasons"]),
                "not_supported": [k for k in GPU_METRICS if k not in info.supported and k != "reasons"],
            }
            for info in infos
        ]
        result[f"dcgm {url}"] = {"available": True, "devices": devices}
    return result


def run_devices(args: argparse.Namespace) -> int:
    from tpstui.commands.options import metrics_url
    from tpstui.commands.output import print_result
    from tpstui.errors import UserError

    urls = [metrics_url(u, "--dcgm") for u in (args.dcgm or "").split(",") if u.strip()]
    result = collect_devices(args.probe_bw) | collect_exporters(urls)
    problem = print_result(json.dumps(result, indent=2) if args.json else _text(result))
    if problem:
        raise UserError(problem)
    return 0
