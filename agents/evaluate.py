"""``python -m agents.evaluate``: see :mod:`agents.evaluation` for the options and the Python API."""

from agents.evaluation import main

if __name__ == "__main__":
    raise SystemExit(main())
