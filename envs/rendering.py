"""Headless rendering set-up shared by every task.

`MUJOCO_GL` must be chosen before `mujoco` is first imported; importing this module (which
`envs/__init__.py` does first) defaults it to EGL, which works without a display.
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import importlib  # noqa: E402
import importlib.util  # noqa: E402

import mujoco  # noqa: E402  (must come after MUJOCO_GL is set)
import numpy as np  # noqa: E402

_llvm_guard_done = False


def _load_triton_before_gl() -> None:
    """Load triton's native library (bundled with CUDA builds of torch) before the first GL context.

    Both Mesa's software rasteriser (llvmpipe, what EGL uses on CPU machines) and triton link their
    own LLVM. When llvmpipe initialises first, loading triton later (``import timm`` or
    ``torch._dynamo`` does) crashes the process with a segmentation fault; the other order is
    fine. Costs ~0.2 s once per process, and nothing where triton is not installed.
    """
    global _llvm_guard_done
    if _llvm_guard_done:
        return
    _llvm_guard_done = True
    try:
        if importlib.util.find_spec("triton") is not None:
            importlib.import_module("triton._C.libtriton")
    except Exception:  # noqa: BLE001  (a broken triton must not stop rendering)
        pass


def make_cheap(model: mujoco.MjModel) -> None:
    """Turn off shadows and multisampling: ~0.5 ms instead of ~23 ms per 64x64 frame on CPU."""
    model.vis.quality.shadowsize = 0
    model.vis.quality.offsamples = 0


class FrameRenderer:
    """Renders a fixed camera of a model to uint8 HxWx3 frames; the GL context is created lazily.

    Lazy creation matters: environments are built in the parent process and then handed to worker
    processes, and a GL context must never cross a fork.
    """

    def __init__(self, model: mujoco.MjModel, height: int, width: int, camera: str | int | dict):
        make_cheap(model)
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            model.vis.global_.offwidth = max(width, model.vis.global_.offwidth)
            model.vis.global_.offheight = max(height, model.vis.global_.offheight)
        self.model, self.height, self.width = model, height, width
        self.camera = free_camera(model, camera) if isinstance(camera, dict) else camera
        self._renderer: mujoco.Renderer | None = None

    def render(self, data: mujoco.MjData) -> np.ndarray:
        if self._renderer is None:
            _load_triton_before_gl()
            self._renderer = mujoco.Renderer(self.model, self.height, self.width)
        self._renderer.update_scene(data, camera=self.camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def free_camera(model: mujoco.MjModel, spec: dict) -> mujoco.MjvCamera:
    """A free (or body-tracking) camera from a gymnasium-style ``default_camera_config`` dict."""
    cam = mujoco.MjvCamera()
    mujoco.mjv_defaultFreeCamera(model, cam)
    for key, value in spec.items():
        if key == "lookat":
            cam.lookat[:] = value
        elif key == "trackbodyid":
            cam.trackbodyid = int(value)
            if int(value) >= 0:
                cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        elif key in ("distance", "azimuth", "elevation"):
            setattr(cam, key, float(value))
    return cam
