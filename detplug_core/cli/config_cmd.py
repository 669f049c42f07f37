"""``detplug config``: print the merged, resolved config."""

from __future__ import annotations

import click


@click.command("config")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
def config(config_file: str, overrides: tuple[str, ...]) -> None:
    """Print CONFIG_FILE after _base_ merging, OVERRIDES (a.b=value), ${...} references and
    the plugins' detplug_adjust_config: the config a run of it would use."""
    from detplug_core.config import load_config
    from detplug_core.plugins import make_plugin_manager

    cfg = load_config(config_file, overrides)
    make_plugin_manager().hook.detplug_adjust_config(config=cfg)
    click.echo(cfg.dump(), nl=False)
