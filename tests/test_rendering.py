"""Headless rendering set-up."""
import subprocess
import sys


def test_rendering_then_importing_timm_does_not_crash():
    # Mesa's llvmpipe and triton (bundled with torch) both carry LLVM; the wrong load order
    # segfaults. envs.rendering loads triton first, so render-then-train scripts work.
    code = ("import envs; env = envs.make_env('reach'); obs, _ = env.reset(seed=0); "
            "import timm; print(obs['pixels'].std() > 10)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "True"


def test_mujoco_gl_defaults_to_egl():
    code = "import os; os.environ.pop('MUJOCO_GL', None); import envs; print(os.environ['MUJOCO_GL'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={k: v for k, v in __import__("os").environ.items()
                                           if k != "MUJOCO_GL"})
    assert proc.stdout.strip() == "egl"
