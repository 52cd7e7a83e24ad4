"""Run every environment benchmark in turn: ``python -m bench.run_all``."""

from __future__ import annotations

from bench import env_speed, oracle_success, render_speed, vec_speed


def main(argv: list[str] | None = None) -> None:
    for name, module in (
        ("oracle success", oracle_success),
        ("env.step vs raw mj_step", env_speed),
        ("vector envs", vec_speed),
        ("rendering", render_speed),
    ):
        print(f"\n## {name}\n")
        module.main([])


if __name__ == "__main__":
    main()
