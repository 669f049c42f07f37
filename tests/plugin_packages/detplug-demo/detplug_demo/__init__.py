"""A small real plugin: a model component, a hook implementation and a CLI command."""

import os
from pathlib import Path

import click

import detplug_core
from detplug_core import hookimpl

if os.environ.get("DETPLUG_DEMO_MARKER"):  # lets tests prove whether this module was imported
    Path(os.environ["DETPLUG_DEMO_MARKER"]).write_text("imported")

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="demo")
HOOKS = detplug_core.Registry("hooks", parent=detplug_core.HOOKS, scope="demo")


@MODELS.register()
class DemoBackbone:
    """Not a network: records its arguments so tests can check what was built."""

    def __init__(self, depth: int = 18, width: int = 64):
        self.depth = depth
        self.width = width


@MODELS.register()
class DemoDetector:
    def __init__(self, backbone: dict, num_classes: int = 3):
        self.backbone = MODELS.build(backbone)
        self.num_classes = num_classes


@hookimpl
def before_run(runner):
    runner.message["demo_before_run"] = 1.0


@hookimpl
def detplug_cli_commands():
    @click.command("demo-hello")
    @click.argument("who", default="world")
    def hello(who: str) -> None:
        """Say hello (a command added by detplug-demo)."""
        click.echo(f"hello {who} from detplug-demo")

    return [hello]
