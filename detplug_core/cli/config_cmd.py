"""``detplug config``: print the merged, resolved config."""

from __future__ import annotations

import click


@click.command("config")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
def config(config_file: str, overrides: tuple[str, ...]) -> None:
    """Print CONFIG_FILE after _base_ merging, OVERRIDES (a.b=value) and ${...} references."""
    from detplug_core.config import load_config

    cfg = load_config(config_file, overrides)
    click.echo(cfg.dump(), nl=False)
