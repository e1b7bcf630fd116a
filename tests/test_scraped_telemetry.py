"""Server and cluster telemetry: an engine's /metrics and DCGM exporters, against scripted loopback servers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.metrics_servers import MetricsServer, dcgm_body, vllm_body
from tpstui.cli import main
from tpstui.sources.telemetry.dcgm import DcgmBackend
from tpstui.sources.telemetry.engine_metrics import EngineMetrics, ServerMetricsBackend
from tpstui.sources.telemetry.prometheus import CounterDeltas, ScrapeError, parse_exposition
from tpstui.sources.telemetry.sampler import Sampler
from tpstui.state.session import Session
from tpstui.stream.events import BackendFailed, EventBus, TelemetrySample, ThrottleChanged

ONSET_S = 0.8
"""When node 2's first GPU starts throttling in the scripted cluster."""


@pytest.fixture
def cluster() -> Iterator[list[MetricsServer]]:
    """Two nodes of two GPUs each; node2/gpu0 throttles (HwThermalSlowdown) from ``ONSET_S`` on."""
    servers = [
        MetricsServer(lambda t: dcgm_body("node1", 2, lambda gpu, t: False, t)).start(),
        MetricsServer(lambda t: dcgm_body("node2", 2, lambda gpu, t: gpu == 0 and t >= ONSET_S, t)).start(),
    ]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def engine() -> Iterator[MetricsServer]:
    server = MetricsServer(vllm_body).start()
    yield server
    server.stop()


def test_the_parser_reads_real_exposition_formats() -> None:
    text = (
        "# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.\n"
        "# TYPE vllm:e2e_request_latency_seconds histogram\n"
        'vllm:e2e_request_latency_seconds_bucket{le="0.3",model_name="a \\"quoted\\" model"} 2.0\n'
        'vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="a \\"quoted\\" model"} 3.0\n'
        'vllm:e2e_request_latency_seconds_sum{model_name="a \\"quoted\\" model"} 1.5\n'
        'vllm:e2e_request_latency_seconds_count{model_name="a \\"quoted\\" model"} 3.0\n'
        "# TYPE vllm:generation_tokens counter\n"
        'vllm:generation_tokens_total{model_name="m"} 1234.0\n'
        "# TYPE DCGM_FI_DEV_GPU_TEMP gauge\n"
        'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-1",Hostname="h"} 64\n'
        "# EOF\n"
    )
    series = parse_exposition(text)
    assert [s.name for s in series] == [
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:e2e_request_latency_seconds_sum",
        "vllm:e2e_request_latency_seconds_count",
        "vllm:generation_tokens_total",
        "DCGM_FI_DEV_GPU_TEMP",
    ]
    assert series[0].labels == {"le": "0.3", "model_name": 'a "quoted" model'} and series[5].value == 64


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>Not Found</body></html>",
        'DCGM_FI_DEV_GPU_TEMP{gpu="0" 64\n',  # a label set never closed
        'DCGM_FI_DEV_GPU_TEMP{gpu="0"} sixty\n',
        "\x00\xff garbage \x01",
        'vllm:num_requests_running{model_name="m"} 4.0\nvllm:num_requests_waiting{model_na',  # cut mid-line
    ],
)
def test_garbage_and_truncated_bodies_are_a_clean_scrape_error(body: str) -> None:
    with pytest.raises(ScrapeError, match="not Prometheus text format"):
        parse_exposition(body)


def test_counter_deltas_survive_resets() -> None:
    deltas = CounterDeltas()
    assert deltas.delta("e", 100.0) is None
    assert deltas.delta("e", 130.0) == 30.0
    assert deltas.delta("e", 5.0) == 5.0  # reset: it restarted from 0, never negative
    assert deltas.delta("e", 12.0) == 7.0


def _sample(backend: object, hz: float, seconds: float) -> Session:
    bus = EventBus()
    session = Session()
    bus.subscribe(session.apply)
    sampler = Sampler(backend, bus, hz)  # type: ignore[arg-type]
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    return session


def test_a_thermal_ramp_on_node_2_is_a_throttle_span_on_that_gpu(cluster: list[MetricsServer]) -> None:
    hz = 10.0
    backend = DcgmBackend([s.url for s in cluster])
    session = _sample(backend, hz, ONSET_S + 0.7)
    assert sorted(session.devices()) == ["node1/gpu0", "node1/gpu1", "node2/gpu0", "node2/gpu1"]
    spans = session.throttle_spans()
    assert [(s.device, s.reason) for s in spans] == [("node2/gpu0", "HwThermalSlowdown")]
    onset_ns = cluster[1].started_ns + int(ONSET_S * 1e9)
    assert onset_ns <= spans[0].start_ns <= onset_ns + int(1e9 / hz) + 50_000_000  # within one scrape period
    hot = session.samples("node2/gpu0")[-1].values
    assert hot["sm_clock_mhz"] == 1410 and hot["temp_c"] == 91 and hot["bw_util_pct"] == pytest.approx(83.0)
    assert hot["mem_total_mb"] == 143_000 and hot["mem_used_mb"] == 70_000
    cool = session.samples("node1/gpu0")
    assert cool[-1].values["energy_j"] > cool[0].values["energy_j"] >= 1000.0  # mJ → J, increasing
    assert [d.device for d in backend.devices()][:1] == ["node1/gpu0"]
    assert backend.devices()[0].details["UUID"] == "GPU-node1-0000"


def test_a_failed_scrape_is_n_a_for_that_sample_and_the_next_one_retries(cluster: list[MetricsServer]) -> None:
    backend = DcgmBackend([s.url for s in cluster], timeout_s=0.2)
    first = {r.device: r for r in backend.sample()}
    assert not first["node2/gpu0"].stale and first["node2/gpu0"].values
    cluster[1].status = 500
    blip = {r.device: r for r in backend.sample()}
    assert blip["node2/gpu0"].stale and blip["node2/gpu0"].values == {}
    assert not blip["node1/gpu0"].stale  # the other node goes on
    assert "HTTP 500" in backend.errors[cluster[1].url]
    cluster[1].status, cluster[1].delay_s = 200, 0.5  # slower than the timeout
    assert all(r.stale for r in backend.sample() if r.device.startswith("node2"))
    cluster[1].delay_s = 0.0
    assert not any(r.stale for r in backend.sample())
    assert backend.errors == {}
    backend.close()


def test_the_energy_counter_continues_across_an_exporter_reset() -> None:
    def body(t: float) -> str:
        text = dcgm_body("n", 1, lambda gpu, t: False, t)
        return text.replace("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{", "X{") + (
            'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0",Hostname="n"} ' + ("900000" if t < 0.3 else "10000") + "\n"
        )

    server = MetricsServer(body).start()
    try:
        backend = DcgmBackend([server.url])
        first = backend.sample()[0].values["energy_j"]
        time.sleep(0.35)
        after_reset = backend.sample()[0].values["energy_j"]
        backend.close()
    finally:
        server.stop()
    assert first == 900.0 and after_reset == 910.0  # the restarted counter's 10 J added, never negative


def test_engine_metrics_become_rates_and_means_over_the_window(engine: MetricsServer) -> None:
    backend = ServerMetricsBackend(engine.url)
    session = _sample(backend, 5.0, 1.8)
    samples = session.samples("server")
    assert len(samples) >= 5
    last = samples[-1].values
    assert last["requests_running"] == 4.0 and last["requests_waiting"] > 0  # the queue built up after 1 s
    assert samples[0].values.get("requests_waiting", 0.0) == 0.0
    assert last["server_gen_tps"] == pytest.approx(100.0, rel=0.15)  # counter → rate on the sample clock
    assert last["prefix_hit_pct"] == pytest.approx(25.0, rel=0.01)
    assert last["server_ttft_s"] == pytest.approx(0.05, rel=0.01)
    assert last["server_itl_s"] == pytest.approx(0.02, rel=0.01)
    assert last["kv_cache_pct"] > samples[0].values["kv_cache_pct"]
    assert backend.devices()[0].name == "vllm engine"


def test_an_unknown_engine_shows_its_raw_series() -> None:
    values = EngineMetrics().values(parse_exposition('myengine_batch_size{x="1"} 7\nmyengine_up 1\n'), 0)
    assert values == {"raw:myengine_batch_size": 7.0, "raw:myengine_up": 1.0}


def test_bench_records_the_cluster_and_the_engine_beside_the_run(
    cluster: list[MetricsServer], engine: MetricsServer, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    code = main([
        "bench", "--model", str(tiny_model_dir), "--device", "cpu", "-n", "4", "--runs", "1", "--warmup", "0",
        "--telemetry", "none", "--dcgm", ",".join(s.url for s in cluster), "--server-metrics", engine.url,
        "--scrape-hz", "10", "--json", str(out), "--quiet",
    ])  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert {"server", "node1/gpu0", "node2/gpu1"} <= set(report["telemetry"]["devices"])
    assert report["settings"]["dcgm"] == [s.url for s in cluster] and report["settings"]["scrape_hz"] == 10


def test_an_exporter_that_never_answers_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "--telemetry", "none", "--dcgm", "http://127.0.0.1:9/metrics", "--runs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no DCGM exporter answered" in err
    assert main(["bench", "--server-metrics", "ftp://x", "--runs", "1"]) == 2


def test_devices_lists_what_each_exporter_answers(
    cluster: list[MetricsServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devices", "--json", "--dcgm", cluster[1].url]) == 0
    result = json.loads(capsys.readouterr().out)
    entry = result[f"dcgm {cluster[1].url}"]
    assert entry["available"] and [d["device"] for d in entry["devices"]] == ["node2/gpu0", "node2/gpu1"]
    first = entry["devices"][0]
    assert "sm_clock_mhz" in first["supported"] and "temp_hotspot_c" in first["not_supported"]


def test_no_backend_failure_for_a_network_blip(engine: MetricsServer) -> None:
    backend = ServerMetricsBackend(engine.url, timeout_s=0.2)
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    sampler = Sampler(backend, bus, 10.0)
    sampler.sample_once()
    engine.status = 503
    sampler.sample_once()
    engine.status = 200
    sampler.sample_once()
    backend.close()
    samples = [e for e in events if isinstance(e, TelemetrySample)]
    assert [bool(s.values) for s in samples] == [True, False, True]
    assert not any(isinstance(e, BackendFailed | ThrottleChanged) for e in events)


def test_the_exposition_memory_gives_what_the_library_parser_gives() -> None:
    from tpstui.sources.telemetry.prometheus import Exposition

    first = dcgm_body("n", 2, lambda gpu, t: False, 0.0)
    later = dcgm_body("n", 2, lambda gpu, t: gpu == 1, 1.0)  # same lines, new values
    parser = Exposition()
    assert parser.parse(first) == parse_exposition(first)
    assert parser.parse(later) == parse_exposition(later)  # answered from memory
    grown = later + 'DCGM_FI_DEV_GPU_TEMP{gpu="2",Hostname="n"} 50\n'  # a line it has not seen
    assert parser.parse(grown) == parse_exposition(grown)
    with pytest.raises(ScrapeError):
        parser.parse(later.replace(" 97\n", " ninety-seven\n"))


def test_server_metrics_without_a_url_means_the_endpoint_servers() -> None:
    from tpstui.commands.options import endpoint_metrics_url

    assert endpoint_metrics_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/metrics"
    assert endpoint_metrics_url("https://llm.example:443/v1/") == "https://llm.example:443/metrics"
    assert main(["bench", "--server-metrics", "--telemetry", "none"]) == 2  # no --endpoint to take it from


def test_recorded_urls_carry_no_credentials(tmp_path: Path) -> None:
    from tpstui.settings import public_url
    from tpstui.sources.endpoint.settings import EndpointSettings

    assert public_url("http://alice:s3cret@node1:9400/metrics") == "http://node1:9400/metrics"
    assert public_url("https://node1:9400/metrics") == "https://node1:9400/metrics"
    settings = EndpointSettings(url="http://bob:pw@127.0.0.1:8000/v1", served_model="m")
    assert "pw" not in json.dumps(settings.as_dict())
