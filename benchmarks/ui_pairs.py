"""The live app's frame cost, this tree against a baseline tree, in alternating pairs.

Runs ``ui_ingest.py --json`` (headless 160×48, no CPU budget) once with the baseline's
``tpstui`` first on ``PYTHONPATH`` and once with this tree's, ``--pairs`` times, alternating, and
prints each pair and the medians of the frame p50 / p99 and render p50 / p99 (ms). Make a
baseline tree with ``git worktree add /tmp/base main`` (or ``git archive main | tar -x -C DIR``).

    python benchmarks/ui_pairs.py --baseline DIR [--rate 50000] [--gpus 4 --hz 20] [--pairs 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ("frame_p50", "frame_p99", "render_p50", "render_p99")


def run(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, str(HERE / "ui_ingest.py"), "--json", "--rates", str(args.rate), "--seconds",
               str(args.seconds), "--gpus", str(args.gpus), "--hz", str(args.hz)]  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(tree)}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=tree)
    row: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=50_000)
    parser.add_argument("--gpus", type=int, default=4)
    parser.add_argument("--hz", type=float, default=20.0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this tree": HERE.parent}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for pair in range(args.pairs):
        order = list(trees) if pair % 2 == 0 else list(reversed(trees))
        for name in order:
            row = run(trees[name], args)
            results[name].append(row)
            cells = " ".join(f"{k} {row[k]:6.2f}" for k in KEYS)
            print(f"pair {pair + 1} {name:<9} {cells}  counted {row['counted']}", flush=True)
    print(f"medians over {args.pairs} pairs ({args.rate:,.0f} tok/s, {args.gpus} GPUs × {args.hz:g} Hz, 160×48, ms):")
    for name, rows in results.items():
        print(f"  {name:<9} " + " ".join(f"{k} {statistics.median(r[k] for r in rows):6.2f}" for k in KEYS))


if __name__ == "__main__":
    main()
