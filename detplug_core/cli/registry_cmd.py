"""``detplug registry``: every registered name, with its scope and plugin."""

from __future__ import annotations

import json

import click


@click.command("registry")
@click.argument("kind", required=False)
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def registry(kind: str | None, pattern: str | None, as_json: bool) -> None:
    """List registered components. KIND is a registry (models, datasets, transforms,
    samplers, metrics, hooks, optimizers, schedulers); PATTERN filters names ("ResNet*")."""
    from detplug_core.errors import DetplugError
    from detplug_core.registry.roots import ROOT_REGISTRIES

    if kind is not None and kind not in ROOT_REGISTRIES:
        raise DetplugError(
            f"unknown registry '{kind}'; choose one of: {', '.join(ROOT_REGISTRIES)}"
        )
    kinds = [kind] if kind else list(ROOT_REGISTRIES)
    rows = []
    for name in kinds:
        for entry in ROOT_REGISTRIES[name].entries(pattern):
            rows.append(
                {
                    "registry": name,
                    "name": entry.name,
                    "scope": entry.scope,
                    "qualified_name": entry.qualified_name,
                    "plugin": entry.distribution,
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    current = None
    for row in rows:
        if row["registry"] != current:
            current = row["registry"]
            click.echo(f"{current}:")
        click.echo(f"  {row['qualified_name']:<40} {row['plugin']}")
