"""``detplug config``: print the merged, resolved config."""

from __future__ import annotations

import click


@click.command("config")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
def config(config_file: str, overrides: tuple[str, ...]) -> None:
    """Print CONFIG_FILE after _base_ merging, OVERRIDES (a.b=value), ${...} references and
    the plugins' detplug_adjust_config: the config a run of it would use.

    CONFIG_FILE is a path or a packaged config, SCOPE::path (e.g. fcos::fcos_r18_fpn_shapes.yaml;
    'detplug configs' lists them). The output starts with comments naming every file merged,
    in merge order.
    """
    from detplug_core.config import load_config
    from detplug_core.plugins import make_plugin_manager
    from detplug_core.plugins.safe_calls import call_adjust_config

    cfg = load_config(config_file, overrides)
    call_adjust_config(make_plugin_manager(), cfg)  # as train does: a failure names its plugin
    click.echo(merged_files_comment(cfg.files), nl=False)
    click.echo(cfg.dump(), nl=False)


def merged_files_comment(files: list[tuple[str, str]]) -> str:
    """YAML comment lines naming each merged file (``SCOPE::path`` with its file)."""
    lines = ["# merged from, in order (later files override earlier ones):"]
    for name, path in files:
        lines.append(f"#   {name}" if name == path else f"#   {name}  ({path})")
    return "\n".join(lines) + "\n"
