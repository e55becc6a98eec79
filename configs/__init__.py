"""Hydra configs of jepa-mpc, shipped as package data so they work from an installed package.

One primary config per ``wm`` command (``collect.yaml``, ``show.yaml``, ``demo.yaml``, ...) and the
groups ``env/`` (tasks) and ``policy/`` (exploration policies).
"""
