"""``detplug train CONFIG [OVERRIDES...]``: train a model from a config.

Options override config keys: ``--work-dir`` (work_dir), ``--resume [auto|PATH]`` (resume;
alone it means ``auto``: continue from ``work_dir/latest.pth`` if there is one),
``--load-from`` (load_from), ``--device``, ``--amp``, ``--seed``, ``--deterministic``,
``--resume-allow-orphans`` (resume_allow_orphans).
``--data PATH`` trains on the user's data set (a YOLO data.yaml, a COCO JSON, a VOC folder:
see docs/data.md), ``--data-images DIR`` says where a COCO JSON's images are, ``--imgsz N``
sets the recipe's input size (its ``imgsz`` key).
``--nproc N`` (N > 1) starts N ranks on this machine, each running this same command, and
supervises them (:mod:`detplug_core.cli.launcher`: signals, the first rank to fail); under
torchrun (``LOCAL_RANK`` set) the option is ignored.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from detplug_core.errors import DetplugError

_OPTION_KEYS = {
    "work_dir": "work_dir",
    "resume": "resume",
    "load_from": "load_from",
    "device": "device",
    "amp": "amp",
    "seed": "seed",
}


def _apply_options(cfg: dict, options: dict[str, Any]) -> None:
    for option, key in _OPTION_KEYS.items():
        if options.get(option) is not None:
            cfg[key] = options[option]
    if options.get("deterministic"):
        cfg["deterministic"] = True
    if options.get("resume_allow_orphans"):
        cfg["resume_allow_orphans"] = True


def apply_data_option(
    cfg: dict, data: str | None, images: str | None, overrides: tuple[str, ...] = ()
) -> None:
    """``--data PATH [--data-images DIR]``: the data plugins' splits into the dataloaders
    (the dataset keys ``overrides`` set are applied to them, or refused by name)."""
    if images is not None and data is None:
        raise DetplugError("--data-images: needs --data")
    if data is None:
        return
    from detplug_core.data.source import apply_data_source, find_data_source

    apply_data_source(cfg, find_data_source(data, images), overrides)


def _rank_command(ctx: click.Context, options: dict[str, Any]) -> list[str]:
    """This command again, as one rank, without --nproc."""
    root = ctx.find_root().params
    argv = [sys.executable, "-m", "detplug_core.cli.main"]
    if root.get("debug"):
        argv.append("--debug")
    for value in root.get("plugin_opts") or ():
        argv += ["-p", value]
    argv += ["train", options["config"], *options["overrides"]]
    for option in _OPTION_KEYS:
        if options.get(option) is not None:
            argv += [f"--{option.replace('_', '-')}", str(options[option])]
    if options.get("deterministic"):
        argv.append("--deterministic")
    if options.get("resume_allow_orphans"):
        argv.append("--resume-allow-orphans")
    for option in ("data", "data_images", "imgsz"):
        if options.get(option) is not None:
            argv += [f"--{option.replace('_', '-')}", str(options[option])]
    return argv


def _launch(ctx: click.Context, nproc: int, options: dict[str, Any]) -> None:
    """Start ``nproc`` ranks of this command and supervise them (detplug_core.cli.launcher)."""
    from detplug_core.cli.launcher import Launcher

    debug = bool(ctx.find_root().params.get("debug"))
    code, line = Launcher(_rank_command(ctx, options), nproc, debug=debug).run()
    if line:
        click.echo(line, err=True)
    if code:
        sys.exit(code)


def run_distributed_safely(fn: Any) -> Any:
    """Run ``fn``; under torchrun or ``--nproc``, as one rank (:mod:`detplug_core.cli.rank`:
    one error line naming the rank, a teardown that cannot crash the exit)."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return fn()
    from detplug_core.cli.rank import run_as_rank

    return run_as_rank(fn, debug="--debug" in sys.argv)


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option(
    "--work-dir", help="Folder for logs and checkpoints (default work_dirs/<config stem>)."
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="auto",
    default=None,
    metavar="[auto|PATH]",
    help="Continue from PATH, or (auto, the default value) from work_dir/latest.pth.",
)
@click.option(
    "--resume-allow-orphans",
    is_flag=True,
    help="Resume even if the checkpoint holds the state of a hook this config no longer has "
    "(the state is dropped with a warning).",
)
@click.option("--load-from", help="Load model weights only from this checkpoint.")
@click.option("--device", help="auto (default), cpu, cuda, cuda:N.")
@click.option("--amp", type=click.Choice(["bf16", "fp16"]), help="Mixed precision.")
@click.option(
    "--nproc",
    type=int,
    default=1,
    show_default=True,
    help="Processes to start with torchrun (data-parallel training).",
)
@click.option(
    "--data", metavar="PATH", help="Train on this data set: YOLO data.yaml, COCO JSON, VOC folder."
)
@click.option("--data-images", metavar="DIR", help="The image folder of a --data COCO JSON.")
@click.option(
    "--imgsz",
    type=int,
    metavar="N",
    help="Input size: the long side images are resized to (the recipe's 'imgsz' key).",
)
@click.option("--seed", type=int, help="Random seed.")
@click.option("--deterministic", is_flag=True, help="Use deterministic algorithms.")
@click.pass_context
def train(ctx: click.Context, config: str, overrides: tuple[str, ...], **options: Any) -> None:
    """Train a model from CONFIG; OVERRIDES are KEY=VALUE (e.g. optimizer.lr=0.02)."""
    nproc = options.pop("nproc")
    options.update(config=config, overrides=overrides)
    if nproc < 1:
        raise DetplugError(f"--nproc: expected a positive number, got {nproc}")
    if nproc > 1 and "LOCAL_RANK" not in os.environ:
        _launch(ctx, nproc, options)
        return

    def run() -> None:
        from detplug_core.config import load_config
        from detplug_core.config.locate import located_errors
        from detplug_core.data.input_size import imgsz_overrides
        from detplug_core.runner import Runner

        sized = imgsz_overrides(config, overrides, options.get("imgsz"))
        cfg = load_config(config, sized)
        apply_data_option(cfg, options.get("data"), options.get("data_images"), sized)
        _apply_options(cfg, options)
        if cfg.get("resume") is None and int(os.environ.get("TORCHELASTIC_RESTART_COUNT") or 0):
            cfg["resume"] = "auto"  # torchrun restarted the group: continue from latest.pth
        # this process is detplug's: malloc and the collector tuned for the loop (runner.py)
        with located_errors(cfg), Runner(cfg, tune_process=True) as runner:
            runner.train()

    run_distributed_safely(run)
