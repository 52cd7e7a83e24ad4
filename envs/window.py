"""``render_mode="human"``: the episode in a window (MuJoCo's own viewer), where a display exists."""

from __future__ import annotations

import atexit
import os
import time
from typing import Any

from envs.errors import UsageError


def display() -> str:
    """The display a window would open on ("" where there is none)."""
    return os.environ.get("DISPLAY", "") or os.environ.get("WAYLAND_DISPLAY", "")


class Window:
    """A passive MuJoCo viewer of ``model`` and ``data``: :meth:`show` draws the current state, at most once per
    ``frame_time`` seconds of wall-clock (so an episode plays at the simulation's own speed)."""

    def __init__(self, model: Any, data: Any, frame_time: float):
        if not display():
            raise UsageError(
                "render_mode='human' opens a window, and there is no display here (DISPLAY is not set): "
                "use render_mode='rgb_array' with envs.record_video, or run under xvfb-run"
            )
        import mujoco.viewer

        try:
            self.viewer = mujoco.viewer.launch_passive(model, data, show_left_ui=False, show_right_ui=False)
        except Exception as exc:  # GLFW's own reasons: no GL on that display, a refused connection
            raise UsageError(f"render_mode='human' could not open a window on display {display()!r}: {exc}") from exc
        self.frame_time, self._last = frame_time, 0.0
        atexit.register(self.close)  # a window left open at exit is closed first (else the viewer's thread crashes)

    @property
    def is_open(self) -> bool:
        return self.viewer.is_running()

    def show(self) -> None:
        if not self.is_open:  # the user closed it; the episode goes on
            return
        wait = self.frame_time - (time.perf_counter() - self._last)
        if wait > 0:
            time.sleep(wait)
        self.viewer.sync()
        self._last = time.perf_counter()

    def close(self) -> None:
        """Close the window and wait (up to a second) for the viewer's thread to let go of it."""
        self.viewer.close()
        deadline = time.perf_counter() + 1.0
        while self.viewer.is_running() and time.perf_counter() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
