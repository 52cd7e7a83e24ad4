"""``python -m world_model.train``: see :mod:`world_model.training`."""

from world_model.training import main

if __name__ == "__main__":
    raise SystemExit(main())
