"""Evaluation videos: mp4 files with the instruction as a caption and an outcome mark."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from envs.errors import UnwritablePath, UsageError, check_writable_dir
from envs.files import atomic_path

Policy = Callable[[dict[str, np.ndarray], dict[str, Any]], np.ndarray]


def check_writable(path: str | os.PathLike) -> Path:
    """Make sure the video file ``path`` can be written (its folder is created), or raise."""
    path = Path(path)
    try:
        check_writable_dir(path.parent, "video")
    except UnwritablePath as exc:
        raise UnwritablePath(f"cannot write video {str(path)!r}: {exc}") from exc
    return path


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def caption(frame: np.ndarray, text: str, footer: str = "") -> np.ndarray:
    """``frame`` with ``text`` on a dark band at the top and ``footer`` at the bottom right."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    height = max(14, frame.shape[0] // 18)
    font = _font(int(height * 0.75))
    draw.rectangle([0, 0, frame.shape[1], height + 4], fill=(20, 20, 24))
    draw.text((6, 2), text, fill=(240, 240, 240), font=font)
    if footer:
        width = draw.textlength(footer, font=font)
        draw.text((frame.shape[1] - width - 6, frame.shape[0] - height - 4), footer, fill=(250, 250, 250), font=font)
    return np.asarray(image)


def outcome_mark(frame: np.ndarray, success: bool) -> np.ndarray:
    """``frame`` with a coloured border and SUCCESS or FAILURE written in its middle."""
    from PIL import Image, ImageDraw

    color = (40, 200, 70) if success else (220, 50, 50)
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    h, w = frame.shape[:2]
    border = max(4, w // 60)
    draw.rectangle([0, 0, w - 1, h - 1], outline=color, width=border)
    font = _font(max(16, h // 9))
    label = "SUCCESS" if success else "FAILURE"
    box = draw.textbbox((0, 0), label, font=font)
    x, y = (w - (box[2] - box[0])) // 2, int(h * 0.8) - (box[3] - box[1])  # low, to leave the scene visible
    draw.rectangle([x - 10, y - 6, x + box[2] - box[0] + 10, y + box[3] - box[1] + 14], fill=(20, 20, 24))
    draw.text((x, y), label, fill=color, font=font)
    return np.asarray(image)


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return frame[: h - h % 2, : w - w % 2]


def record_video(
    env: gym.Env,
    policy: Policy,
    path: str | os.PathLike,
    episodes: int = 1,
    seed: int | None = 0,
    fps: int | None = None,
    hold_seconds: float = 0.6,
    on_reset: Callable[[], None] | None = None,
    options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run ``episodes`` episodes of ``policy`` in ``env`` and write them to one mp4 at ``path``.

    Each frame is captioned with the instruction and step; each episode ends on a frame
    marked SUCCESS or FAILURE, held for ``hold_seconds``. ``env`` needs
    ``render_mode="rgb_array"``. Episode ``i`` is reset with ``seed + i`` (no seeding when
    ``seed`` is None); ``on_reset`` is called after each reset (to clear a recurrent policy's
    memory); ``options`` are every reset's options (``{"instruction": text}``: that instruction in each
    episode). Returns one record per episode: instruction, success, steps, return.
    """
    import imageio.v2 as imageio

    if env.render_mode != "rgb_array":
        raise UsageError(f"record_video needs an env made with render_mode='rgb_array', got {env.render_mode!r}")
    if episodes < 1:
        raise UsageError(f"episodes must be >= 1, got {episodes}")
    path = check_writable(path)
    fps = int(fps or env.metadata.get("render_fps", 25))
    results: list[dict[str, Any]] = []
    with atomic_path(path) as tmp:  # a finished video appears whole, or not at all
        writer = imageio.get_writer(tmp, fps=fps, codec="libx264", quality=7, macro_block_size=2, format="FFMPEG")
        try:
            for episode in range(episodes):
                obs, info = env.reset(seed=None if seed is None else seed + episode, options=options)
                if on_reset is not None:
                    on_reset()
                text, total, steps, done = info["instruction"], 0.0, 0, False
                writer.append_data(_even(caption(env.render(), text, "step 0")))
                while not done:
                    obs, reward, terminated, truncated, info = env.step(policy(obs, info))
                    total += float(reward)
                    steps += 1
                    done = terminated or truncated
                    writer.append_data(_even(caption(env.render(), text, f"step {steps}")))
                success = bool(info.get("is_success", False))
                last = _even(outcome_mark(caption(env.render(), text, f"step {steps}"), success))
                for _ in range(max(1, int(hold_seconds * fps))):
                    writer.append_data(last)
                results.append({"instruction": text, "success": success, "steps": steps, "return": total})
        finally:
            writer.close()
    return results
