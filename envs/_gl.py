"""Headless OpenGL backend selection for MuJoCo rendering.

MuJoCo reads ``MUJOCO_GL`` when it is first imported, so :func:`choose_backend` runs from
``envs/__init__.py`` before anything imports ``mujoco``. A value the user set is kept.
Otherwise EGL is used when ``libEGL`` is present, then OSMesa; rendering without either
fails with a message saying what to install.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

_HELP = (
    "Rendering needs an OpenGL backend. On Debian/Ubuntu install EGL with "
    "'apt-get install libegl1 libgl1' (or OSMesa: 'apt-get install libosmesa6') and set "
    "MUJOCO_GL=egl (or osmesa) before Python starts; on a desktop, MUJOCO_GL=glfw."
)


def choose_backend() -> str | None:
    """Set ``MUJOCO_GL`` (and PyOpenGL's platform) if unset; return the backend in use."""
    if "MUJOCO_GL" in os.environ:
        return os.environ["MUJOCO_GL"]
    if sys.platform != "linux":
        return None  # macOS and Windows use their native GL through glfw
    for backend, lib in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if ctypes.util.find_library(lib):
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
    return None


def make_renderer(model, width: int, height: int):
    """A ``mujoco.Renderer`` with shadows and reflections off (they cost ~5x on CPU)."""
    import mujoco

    if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
        model.vis.global_.offwidth = max(width, model.vis.global_.offwidth)
        model.vis.global_.offheight = max(height, model.vis.global_.offheight)
    try:
        renderer = mujoco.Renderer(model, height=height, width=width)
    except Exception as exc:  # the GL libraries raise many kinds of errors
        backend = os.environ.get("MUJOCO_GL", "unset")
        raise RuntimeError(f"could not create an OpenGL context (MUJOCO_GL={backend}): {exc}. {_HELP}") from exc
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
    return renderer
