"""Recording size: bytes per token (its text included), bytes per telemetry sample, one hour.

Writes synthetic sessions exactly as the recorder frames them in real time (recording_synthetic.py):
tokens only, at 100 and 15 tokens/s, then the issue's case, 100 tokens/s with an 18-key GPU
sampled at 10 Hz for an hour. Bytes per sample = (with telemetry − tokens only) / samples.
Targets: ≤ 32 bytes per token, < 20 MB for the hour. Shipped recordings are listed too.

    python benchmarks/recording_size.py [--minutes 60]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from recording_synthetic import synthetic_events, write_synthetic

from tpstui.stream.events import TelemetrySample, Tokens
from tpstui.stream.recording import read_recording

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def measure(folder: Path, name: str, seconds: float, tps: float, telemetry: bool) -> tuple[int, int, int]:
    """(file bytes, tokens, samples)."""
    path = folder / f"{name}.jsonl.zst"
    events = list(synthetic_events(seconds, tps, 10.0, telemetry=telemetry))
    write_synthetic(path, iter(events))
    tokens = sum(1 for e in events if type(e) is Tokens)
    samples = sum(1 for e in events if type(e) is TelemetrySample)
    return path.stat().st_size, tokens, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for tps in (100.0, 15.0):
            size, tokens, _ = measure(folder, f"tokens{tps:g}", seconds, tps, telemetry=False)
            print(f"tokens only, {tps:g} tok/s: {size / tokens:.1f} bytes/token ({tokens} tokens, {size / 1e6:.2f} MB)")
        base, tokens, _ = measure(folder, "base", seconds, 100.0, telemetry=False)
        size, tokens, samples = measure(folder, "full", seconds, 100.0, telemetry=True)
        print(f"telemetry: {(size - base) / samples:.1f} bytes/sample (18 GPU keys + reasons, {samples} samples)")
        print(
            f"{args.minutes:g} min at 100 tok/s + 10 Hz telemetry: {size / 1e6:.2f} MB "
            f"({size / tokens:.1f} bytes per token, everything included); target < 20 MB per hour"
        )
    for path in sorted(RECORDINGS.glob("*.jsonl.zst")):
        recording = read_recording(path)
        tokens = sum(e.n_all for e in recording.events if type(e) is Tokens)
        samples = sum(1 for e in recording.events if type(e) is TelemetrySample)
        size = path.stat().st_size
        per_token = size / max(tokens, 1)
        print(f"{path.name}: {size} bytes, {tokens} tokens, {samples} samples: {per_token:.1f} bytes/token all in")


if __name__ == "__main__":
    main()
