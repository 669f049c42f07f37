"""``detplug test CONFIG_OR_CHECKPOINT [OVERRIDES...]``: evaluate and print the metrics.

With a checkpoint alone (``.pth``/``.pt``/``.ckpt``) the resolved config saved inside it is
used (overrides apply to it) and its weights are loaded. With a config, ``--checkpoint``
names the weights (else the config's ``load_from``). The test set is ``test_dataloader``, or
``val_dataloader`` when the config has none; ``--data PATH`` evaluates on another data set
(as ``detplug train --data``; its classes must match the model's count). Prints the metric summary and each metric's
per-class table; ``--out FILE.json`` also writes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt")


def _config_from_checkpoint(path: str, overrides: tuple[str, ...]) -> Any:
    from detplug_core.config import Config, apply_overrides
    from detplug_core.errors import CheckpointError
    from detplug_core.runner.checkpoint import load_file

    ckpt = load_file(path)
    saved = ckpt.get("config") if isinstance(ckpt, dict) else None
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{path} holds no config (not written by 'detplug train'); "
            "run: detplug test CONFIG --checkpoint " + path
        )
    cfg = Config.from_dict(saved, filename=path)
    apply_overrides(cfg, overrides)
    return cfg


def format_table(rows: list[dict]) -> str:
    """Rows of dicts as an aligned text table (floats with 4 decimals)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [
        [f"{r.get(c):.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns]
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _report(runner: Any, metrics: dict[str, float], out: str | None, source: str) -> None:
    per_class = {}
    for prefix, metric in zip(runner.test_metric_prefixes, runner.test_metrics, strict=True):
        if callable(getattr(metric, "per_class", None)):
            per_class[prefix] = metric.per_class()
    width = max((len(k) for k in metrics), default=0)
    click.echo(f"\nTest results ({source}):")
    for key, value in metrics.items():
        click.echo(f"  {key.ljust(width)}  {value:.4f}")
    for prefix, rows in per_class.items():
        click.echo(f"\nPer class ({prefix}):\n{format_table(rows)}")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(
            json.dumps(
                {"source": source, "metrics": metrics, "per_class": per_class},
                indent=2,
                default=float,
            ),
            encoding="utf-8",
        )
        click.echo(f"\nwrote {out}")


@click.command()
@click.argument("target", metavar="CONFIG_OR_CHECKPOINT", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--checkpoint", help="Weights to evaluate (default: the config's load_from).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write metrics as JSON here.")
@click.option(
    "--work-dir",
    help="Work dir for the log (default: the checkpoint's folder, else the config's work_dir).",
)
@click.option("--device", help="auto (default), cpu, cuda, cuda:N.")
@click.option("--data", metavar="PATH", help="Evaluate on this data set (as train --data).")
@click.option("--data-images", metavar="DIR", help="The image folder of a --data COCO JSON.")
def test(
    target: str,
    overrides: tuple[str, ...],
    checkpoint: str | None,
    out: str | None,
    work_dir: str | None,
    device: str | None,
    data: str | None,
    data_images: str | None,
) -> None:
    """Evaluate CONFIG_OR_CHECKPOINT on the test (or val) data and print the metrics."""
    from detplug_core.cli.train import apply_data_option, run_distributed_safely

    def run() -> None:
        from detplug_core.config import load_config
        from detplug_core.runner import Runner

        if Path(target).suffix in CHECKPOINT_SUFFIXES:
            cfg = _config_from_checkpoint(target, overrides)
            cfg["work_dir"] = str(Path(target).parent)  # logs go next to the checkpoint
            weights = checkpoint or target
        else:
            cfg = load_config(target, overrides)
            weights = checkpoint or cfg.get("load_from")
        apply_data_option(cfg, data, data_images, overrides)
        cfg["load_from"] = weights
        cfg["resume"] = None
        for key, value in (("work_dir", work_dir), ("device", device)):
            if value is not None:
                cfg[key] = value
        from detplug_core.config.locate import located_errors

        with located_errors(cfg), Runner(cfg) as runner:
            metrics = runner.test()
            if runner.rank == 0:
                _report(runner, metrics, out, weights or "initial weights")

    run_distributed_safely(run)
