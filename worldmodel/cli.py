"""The ``wm`` command: ``wm <command> [hydra overrides]``.

Each command has a primary config ``configs/<command>.yaml`` composed with Hydra's compose API, so
overrides like ``env=push episodes=100 env.image_size=96`` work as in any Hydra app, and the code
underneath takes plain dataclasses / keyword arguments (usable without Hydra).
"""
from __future__ import annotations

import importlib
import sys
import textwrap
from typing import Callable

#: command -> ("module:function", one-line help). Each function takes the composed DictConfig.
COMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("envs.commands:collect_command", "collect episodes with an exploration policy"),
    "show": ("envs.commands:show_command", "write an MP4 of a dataset's episodes side by side"),
    "pretrain": ("worldmodel.commands:pretrain_command",
                 "V-JEPA self-supervised pretraining on passive video"),
    "probe": ("worldmodel.probe:probe_command",
              "frozen-feature attentive probe: R-squared of simulator state from frames"),
    "plan": ("planners.commands:plan_command",
             "MPC with a planner in a world model on held-out start/goal pairs"),
    "train": ("worldmodel.commands:train_command",
              "train the action-conditioned world model on a frozen encoder"),
    "train-decoder": ("worldmodel.decoder:decoder_command",
                      "train a pixel decoder of a world model's latents (videos only)"),
    "eval-rollout": ("worldmodel.eval_rollout:eval_rollout_command",
                     "held-out rollout error against horizon vs repeating the last latent"),
    "bench": ("worldmodel.bench.suite:bench_command",
              "benchmark suite: latent vs pixel world models (suite=quick|full)"),
    "demo": ("worldmodel.demo:demo_command", "run the end-to-end demo on the default task"),
}

USAGE = """usage: wm <command> [key=value ...] [--help]

Commands:
{commands}

`wm <command> --help` prints that command's full config; any key can be overridden, e.g.
  wm collect env=push policy=scripted episodes=200 out=runs/push/data
"""


#: commands whose primary config file is not ``configs/<command>.yaml`` (``configs/train/`` is the
#: group of optimisation settings every training command shares)
CONFIG_NAMES = {"train": "train_world_model", "train-decoder": "train_decoder",
                "eval-rollout": "eval_rollout"}

#: per-command spellings of keys: ``wm plan model=CKPT`` means the ``world_model`` key there,
#: because ``model`` is a config group (architectures) elsewhere
KEY_ALIASES = {"plan": {"model": "world_model"}}


class UsageError(Exception):
    """A command line the user has to fix."""


def compose(command: str, overrides: list[str]):
    """The command's config with ``overrides`` applied (Hydra compose API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="configs", version_base=None):
            return hydra_compose(config_name=CONFIG_NAMES.get(command, command),
                                 overrides=_alias(command, overrides))
    except (HydraException, OmegaConfBaseException) as err:
        message = str(err).split("Config search path")[0].strip() or repr(err)
        raise UsageError(" ".join(message.split())) from err


def _alias(command: str, overrides: list[str]) -> list[str]:
    aliases = KEY_ALIASES.get(command, {})
    out = []
    for item in overrides:
        key, sep, value = item.partition("=")
        out.append(f"{aliases[key]}={value}" if sep and key in aliases else item)
    return out


def _resolve(command: str) -> Callable:
    module, fn = COMMANDS[command][0].split(":")
    return getattr(importlib.import_module(module), fn)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}} {help_}" for name, (_, help_) in COMMANDS.items())
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE.format(commands=listing))
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"wm: unknown command {command!r}\n\n" + USAGE.format(commands=listing),
              file=sys.stderr)
        return 2
    want_help = any(a in ("-h", "--help") for a in rest)
    overrides = [a for a in rest if a not in ("-h", "--help")]
    try:
        cfg = compose(command, overrides)
        if want_help:
            from omegaconf import OmegaConf
            print(f"wm {command}: {COMMANDS[command][1]}\n\nconfig (override with key=value):\n")
            print(textwrap.indent(OmegaConf.to_yaml(cfg), "  "))
            return 0
        _resolve(command)(cfg)
    except UsageError as err:
        print(f"wm {command}: bad arguments: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:  # DatasetError is a ValueError
        print(f"wm {command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nwm {command}: interrupted; finished work is kept and a rerun resumes it",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
