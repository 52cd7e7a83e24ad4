"""Choice of the headless GL backend and the error when none works."""

from __future__ import annotations

import pytest

from envs import _gl


def test_user_setting_is_kept(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert _gl.choose_backend() == "osmesa"


@pytest.mark.parametrize(
    "found, expected",
    [({"EGL", "OSMesa"}, "egl"), ({"OSMesa"}, "osmesa"), (set(), None)],
)
def test_default_prefers_egl_then_osmesa(monkeypatch, found, expected):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setattr(_gl.sys, "platform", "linux")
    monkeypatch.setattr(_gl.ctypes.util, "find_library", lambda name: f"lib{name}.so" if name in found else None)
    assert _gl.choose_backend() == expected
    assert _gl.os.environ.get("MUJOCO_GL") == expected


def test_renderer_failure_says_what_to_install(monkeypatch):
    import mujoco

    def broken(*args, **kwargs):
        raise RuntimeError("no display")

    monkeypatch.setattr(mujoco, "Renderer", broken)
    model = mujoco.MjModel.from_xml_string("<mujoco/>")
    with pytest.raises(RuntimeError, match="apt-get install libegl1.*libosmesa6"):
        _gl.make_renderer(model, 64, 64)
