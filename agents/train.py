"""``python -m agents.train``: see :mod:`agents.training` for the options and the Python API."""

from agents.training import main

if __name__ == "__main__":
    raise SystemExit(main())
