"""History checkers: ops checked per second by the linearizability checker (`minik8s.chaos.linearizability`).

Generates linearizable histories with the register simulator (`minik8s.chaos.register_sim`):
`--ops` ops by 8 concurrent clients over 3 keys and over 100 keys, a mix of 40% reads, 30%
compare-and-set updates, 15% creates, 15% deletes, 2% of answers lost (outcome unknown). Each row
is `--runs` histories (different seeds), each checked once in this process, on one core:

- ops/s p50 (min, max): ops checked per second of `check` (the ops the model constrains);
- ms p50: the time of one `check`;
- verdicts: every history must come out "ok" (they are linearizable by construction).

No cluster is started; nothing is asserted on timings.

    .venv/bin/python bench/bench_checkers.py [--ops 1000 --runs 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import format_table, percentile  # noqa: E402

from minik8s.chaos.linearizability import check  # noqa: E402
from minik8s.chaos.register_sim import SimConfig, simulate  # noqa: E402

HEADERS = ("history", "ops", "ops/s p50", "ops/s min", "ops/s max", "ms p50", "verdicts")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keys", default="3,100", help="comma-separated key counts, one row each")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--budget", type=float, default=30.0, help="check's budget per history, seconds")
    return parser.parse_args()


def row(args: argparse.Namespace, keys: int) -> list[object]:
    rates, millis, verdicts, checked = [], [], Counter[str](), 0
    for seed in range(args.runs):
        history = simulate(SimConfig(ops=args.ops, keys=keys, processes=args.processes), random.Random(seed))
        start = time.perf_counter()
        result = check(history, budget_seconds=args.budget)
        seconds = time.perf_counter() - start
        rates.append(result.ops / seconds)
        millis.append(seconds * 1000)
        verdicts[result.verdict] += 1
        checked = result.ops
    rates.sort()
    millis.sort()
    summary = " ".join(f"{v}:{n}" for v, n in sorted(verdicts.items()))
    return [f"{keys} keys, {args.processes} clients", checked, percentile(rates, 50), rates[0], rates[-1],
            percentile(millis, 50), summary]


def main() -> None:
    args = parse_args()
    rows = [row(args, int(k)) for k in args.keys.split(",")]
    print(f"linearizability checker, {args.ops}-op histories, {args.runs} runs per row")
    print(format_table(HEADERS, rows))


if __name__ == "__main__":
    main()
