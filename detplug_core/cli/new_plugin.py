"""``detplug new-plugin``: scaffold a plugin distribution whose tests pass at once."""

from __future__ import annotations

import click

KIND_CHOICES = ("hook", "model", "dataset")  # keep in step with detplug_core.scaffold.KINDS


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(KIND_CHOICES),
    default="hook",
    show_default=True,
    help="The example component to generate.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Parent folder; the plugin goes into DIR/detplug-NAME.",
)
def new_plugin(name: str, kind: str, directory: str) -> None:
    """Write a new plugin distribution NAME (pyproject with the entry point, package with
    scoped registries, an example component, README and tests). 'detplug-' is prepended to
    NAME when missing: 'my-hooks' gives distribution detplug-my-hooks, package
    detplug_my_hooks and registry scope my_hooks."""
    from detplug_core.scaffold import generate_plugin, plugin_names

    names = plugin_names(name)
    target = generate_plugin(name, kind, directory)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    click.echo(f"created {target} ({kind} plugin, scope '{names.scope}'):")
    for rel in files:
        click.echo(f"  {rel}")
    click.echo("next:")
    click.echo(f"  cd {target}")
    click.echo("  pip install -e '.[test]'")
    click.echo("  pytest")
