"""``detplug configs [PATTERN] [--json]``: the configs shipped in installed distributions.

Imports no torch and no plugin: packages are located, never imported.
"""

from __future__ import annotations

import fnmatch
import json

import click


def matches(pattern: str | None, name: str) -> bool:
    """``fcos`` matches names containing it; ``fcos::*r18*`` is a shell-style pattern."""
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern.lower() in name.lower()


@click.command("configs")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def configs(pattern: str | None, as_json: bool) -> None:
    """List the packaged configs (SCOPE::path) with their plugin and description.

    PATTERN filters the names: a word ("shapes") or a shell pattern ("fcos::*r18*"). Use a
    name anywhere a config is accepted: detplug train fcos::fcos_r18_fpn_shapes.yaml, or
    _base_: fcos::models/fcos_r50_fpn.yaml in a config file.
    """
    from detplug_core.config.packaged import installed_scopes, packaged_configs

    rows = [row for row in packaged_configs() if matches(pattern, row.name)]
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    if not rows:
        click.echo(f"no packaged config matches '{pattern}'" if pattern else "no packaged configs")
    else:
        width = max(len(row.name) for row in rows)
        plugin_width = max(len(f"{row.distribution} {row.version}") for row in rows)
        for row in rows:
            plugin = f"{row.distribution} {row.version}"
            line = f"{row.name.ljust(width)}  {plugin.ljust(plugin_width)}  {row.description}"
            click.echo(line.rstrip())
    blocked = installed_scopes()[1]
    if blocked:
        click.echo(f"(not listed: blocked plugins {', '.join(blocked)})")
