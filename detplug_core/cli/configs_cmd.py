"""``detplug configs [PATTERN] [--json]``: the configs shipped in installed distributions.

The files are found without importing anything; the plugins are then loaded once, so that
the configs of a plugin that fails to load are marked as unusable instead of offered.
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


def plugin_problems(scopes: set[str]) -> dict[str, str]:
    """``{scope: "plugin failed to load: ImportError: ..."}`` for the listed scopes whose
    plugin is installed but not usable (failed, or skipped by DETPLUG_PLUGINS_AUTOLOAD=0)."""
    from detplug_core.plugins.loader import ensure_loaded

    problems = {}
    for record in ensure_loaded():
        if record.name not in scopes:
            continue
        if record.status == "failed":
            error = (record.error or "").splitlines()[0] if record.error else "unknown error"
            problems[record.name] = f"plugin failed to load: {error}"
        elif record.status == "not-autoloaded":
            problems[record.name] = f"plugin not autoloaded: add -p {record.name}"
    return problems


def check_scope(pattern: str | None) -> None:
    """A pattern that names its scope (``fcos::*``, ``nope::``) needs that scope installed
    and not blocked: otherwise the error says which scopes exist, or what to install."""
    from detplug_core.config.packaged import SEPARATOR, config_scope, split_packaged

    if not pattern or SEPARATOR not in pattern:
        return
    scope, _ = split_packaged(pattern)
    if scope and not any(c in scope for c in "*?["):
        config_scope(scope, pattern)


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

    check_scope(pattern)
    rows = [row for row in packaged_configs() if matches(pattern, row.name)]
    problems = plugin_problems({row.scope for row in rows})
    if as_json:
        listed = [{**row.as_dict(), "problem": problems.get(row.scope)} for row in rows]
        click.echo(json.dumps(listed, indent=2))
        return
    if not rows:
        click.echo(f"no packaged config matches '{pattern}'" if pattern else "no packaged configs")
    else:
        width = max(len(row.name) for row in rows)
        plugin_width = max(len(f"{row.distribution} {row.version}") for row in rows)
        for row in rows:
            plugin = f"{row.distribution} {row.version}"
            about = f"[{problems[row.scope]}]" if row.scope in problems else row.description
            line = f"{row.name.ljust(width)}  {plugin.ljust(plugin_width)}  {about}"
            click.echo(line.rstrip())
        if problems:
            click.echo(
                "(configs marked [...] cannot be built as they are: detplug plugins says why)"
            )
    blocked = installed_scopes()[1]
    if blocked:
        click.echo(f"(not listed: blocked plugins {', '.join(blocked)})")
