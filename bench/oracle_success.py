"""Oracle success over 100 seeded episodes per task and split (target >= 95% everywhere).

python -m bench.oracle_success [--episodes 100]
"""

from __future__ import annotations

import argparse

import envs
from bench.report import markdown_table, write_json
from envs.demo import oracle_success
from envs.language import SPLITS


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args(argv)
    rows = []
    for env_id in envs.TASKS:
        row: dict = {"task": env_id}
        for split in SPLITS:
            wins, steps = oracle_success(env_id, split, args.episodes, seed=10_000)
            row[f"{split} success"] = wins / args.episodes
            row[f"{split} steps"] = steps
        rows.append(row)
    print(markdown_table(rows, list(rows[0])))
    worst = min(row[f"{split} success"] for row in rows for split in SPLITS)
    print(f"\nlowest success {worst:.2f} (target >= 0.95): {'met' if worst >= 0.95 else 'NOT met'}")
    print(f"wrote {write_json('oracle_success', rows)}")
    return rows


if __name__ == "__main__":
    main()
