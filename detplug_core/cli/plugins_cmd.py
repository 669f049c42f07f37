"""``detplug plugins``: what is installed and what each plugin provides."""

from __future__ import annotations

import json

import click


def plugin_report() -> list[dict]:
    """One dict per plugin: record fields, components per registry, hooks, commands."""
    from detplug_core.plugins import make_plugin_manager
    from detplug_core.plugins.manager import plugin_hooks
    from detplug_core.plugins.safe_calls import cli_commands_by_plugin
    from detplug_core.registry.roots import ROOT_REGISTRIES

    pm = make_plugin_manager()
    from detplug_core.plugins.state import records

    rows = []
    for record in records():
        row = record.as_dict()
        components: dict[str, list[str]] = {}
        for kind, root in ROOT_REGISTRIES.items():
            names = [e.qualified_name for e in root.entries() if e.plugin == record.package]
            if names:
                components[kind] = names
        row["components"] = components
        row["hooks"], row["commands"] = [], []
        if record.module is not None and pm.is_registered(record.module):
            row["hooks"] = [h for h in plugin_hooks(pm, record.module)]
            for _, plugin, commands, error in cli_commands_by_plugin(pm):
                if plugin is record.module:
                    row["commands"] = _command_names(commands)
                    if error:
                        row["error"] = error
        if record.failed_components:
            row["failed_components"] = record.failed_components
        rows.append(row)
    return rows


def name_conflicts(roots: dict | None = None) -> list[str]:
    """Warnings for bare names that several distributions register in one registry tree:
    one registered in the root registry *shadows* the others (a bare name found from the root
    takes it silently); otherwise the bare name *collides* (ambiguous: configs must write
    the scope). Either way a config that names them by scope is unaffected."""
    from detplug_core.registry.roots import ROOT_REGISTRIES

    warnings = []
    for kind, root in (roots or ROOT_REGISTRIES).items():
        by_name: dict[str, list] = {}
        for entry in root.entries():
            by_name.setdefault(entry.name, []).append(entry)
        for name, entries in sorted(by_name.items()):
            if len({e.distribution for e in entries}) < 2:
                continue
            listed = ", ".join(f"{e.qualified_name} ({e.distribution})" for e in entries)
            top = [e for e in entries if e.registry is root]
            if top:
                warnings.append(
                    f"{kind}: '{name}' registered in the root registry by {top[0].distribution} "
                    f"shadows the others ({listed}); configs that mean another one must write "
                    "its scope"
                )
            else:
                warnings.append(
                    f"{kind}: '{name}' is registered by several plugins ({listed}); a bare "
                    f"'{name}' is ambiguous, write the scope (e.g. {entries[0].qualified_name})"
                )
    return warnings


def _command_names(commands: list) -> list[str]:
    names = []
    for command in commands:
        subs = getattr(command, "commands", None)
        if subs:
            names += [f"{command.name} {sub}" for sub in sorted(subs)]
        else:
            names.append(command.name)
    return names


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json: bool) -> None:
    """List installed plugins: status, version, components, hooks and commands."""
    rows = plugin_report()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        for warning in name_conflicts():
            click.echo(f"warning: {warning}", err=True)
        return
    if not rows:
        click.echo("no detplug plugins installed (entry-point group 'detplug.plugins')")
        return
    for row in rows:
        status = row["status"]
        click.echo(f"{row['name']}  {row['distribution']} {row['version']}  [{status}]")
        if row["error"]:
            click.echo(f"    error: {row['error']}")
        for warning in row["warnings"]:
            click.echo(f"    warning: {warning}")
        for kind, names in row["components"].items():
            click.echo(f"    {kind}: {', '.join(names)}")
        if row["hooks"]:
            click.echo(f"    hooks: {', '.join(row['hooks'])}")
        if row["commands"]:
            click.echo(f"    commands: {', '.join(row['commands'])}")
    for warning in name_conflicts():
        click.echo(f"warning: {warning}", err=True)
