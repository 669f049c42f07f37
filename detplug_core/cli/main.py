"""The ``detplug`` command line.

Built-in commands live in their own modules and are imported only when run, so
``detplug --help`` and ``detplug --version`` import neither torch nor any plugin. Commands
contributed by plugins (hook ``detplug_cli_commands``) are found when an unknown command name
is used, and listed by ``detplug plugins``.
"""

from __future__ import annotations

import importlib
import sys
import traceback
import warnings
from typing import TextIO

import click

from detplug_core import __version__
from detplug_core.errors import DetplugError, DetplugWarning

BUILTIN_COMMANDS = {
    "train": ("detplug_core.cli.train", "train", "Train a model from a config."),
    "test": ("detplug_core.cli.test", "test", "Evaluate a config or a checkpoint."),
    "config": ("detplug_core.cli.config_cmd", "config", "Print the merged, resolved config."),
    "configs": ("detplug_core.cli.configs_cmd", "configs", "List the packaged configs."),
    "plugins": ("detplug_core.cli.plugins_cmd", "plugins", "List installed plugins."),
    "registry": ("detplug_core.cli.registry_cmd", "registry", "List registered components."),
    "new-plugin": ("detplug_core.cli.new_plugin", "new_plugin", "Scaffold a plugin package."),
}


class DetplugGroup(click.Group):
    """A click group whose built-in commands load lazily and whose plugins add commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(BUILTIN_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in BUILTIN_COMMANDS:
            module, attr, _ = BUILTIN_COMMANDS[cmd_name]
            return getattr(importlib.import_module(module), attr)
        # click resolves the command before the group's callback runs: apply -p first, so
        # that `detplug -p NAME CMD` finds a command of a plugin autoload skipped
        apply_plugin_options(ctx.params.get("plugin_opts") or ())
        return plugin_commands().get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in sorted(BUILTIN_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
        with formatter.section("Plugin commands"):
            formatter.write_text(
                "Installed plugins add commands, e.g. 'detplug infer' (detplug-torchvision) "
                "and 'detplug convert' (detector plugins); 'detplug plugins' lists them."
            )

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except DetplugError as err:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)
        except click.NoSuchOption as err:
            if err.option_name != "-p":
                raise
            command = err.ctx.info_name if err.ctx is not None else "COMMAND"
            click.echo(
                f"error: -p is an option of detplug itself and goes before the command: "
                f"detplug -p no:NAME {command} ...",
                err=True,
            )
            ctx.exit(2)
        except KeyboardInterrupt:  # a second Ctrl-C (the first one is handled by the runner)
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(
                "error: interrupted (Ctrl-C); latest.pth is the last whole checkpoint", err=True
            )
            ctx.exit(130)


def plugin_commands() -> dict[str, click.Command]:
    """Commands added by installed plugins, by name.

    Groups of the same name from several plugins merge (each detector plugin adds its own
    ``detplug convert <format>`` subcommand); two plain commands of one name are an error.
    """
    from detplug_core.plugins import make_plugin_manager
    from detplug_core.plugins.safe_calls import cli_commands_by_plugin, describe_plugin

    pm = make_plugin_manager()
    commands: dict[str, click.Command] = {}
    owners: dict[str, str] = {}
    for plugin_name, _, added, error in cli_commands_by_plugin(pm):
        if error:
            click.echo(f"warning: {describe_plugin(plugin_name)}: {error}", err=True)
        for command in added:
            name = command.name
            if name not in commands:
                commands[name], owners[name] = command, plugin_name
                continue
            old = commands[name]
            if isinstance(old, click.Group) and isinstance(command, click.Group):
                merged = click.Group(name, help=old.help, commands=dict(old.commands))
                for sub in command.commands.values():
                    merged.add_command(sub)
                commands[name] = merged
            else:
                raise DetplugError(
                    f"command '{name}' is added by two plugins: "
                    f"'{owners[name]}' and '{plugin_name}'"
                )
    return commands


@click.group(cls=DetplugGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="detplug")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.option(
    "-p",
    "plugin_opts",
    multiple=True,
    metavar="[no:]NAME",
    help="Block a plugin (no:NAME, by entry-point or distribution name) or load one that "
    "autoload (DETPLUG_PLUGINS_AUTOLOAD=0) skipped.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, plugin_opts: tuple[str, ...]) -> None:
    """detplug: object detection training whose models, data, metrics and hooks are plugins."""
    apply_plugin_options(plugin_opts)
    ctx.obj = {"debug": debug}


def apply_plugin_options(plugin_opts: tuple[str, ...]) -> None:
    """Block or enable the plugins named by ``-p`` (before any plugin is loaded)."""
    from detplug_core.plugins.loader import configure, parse_p_options

    blocked, enabled = parse_p_options(plugin_opts)
    configure(blocked=blocked, enabled=enabled)


def show_warnings_as_lines() -> None:
    """detplug's own warnings (a plugin problem that does not stop the run) print as one
    ``warning: ...`` line; others keep Python's format. The CLI owns its process."""
    default = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, DetplugWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    show_warnings_as_lines()
    try:
        code = cli.main(args=argv, prog_name="detplug", standalone_mode=False)
    except DetplugError as err:  # raised while resolving a command, before invoke
        if debug:
            traceback.print_exc()
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except click.UsageError as err:  # one line instead of click's usage block
        where = err.ctx.command_path if err.ctx else "detplug"
        click.echo(
            f"error: {where}: {err.format_message().rstrip('.')} (see '{where} --help')", err=True
        )
        sys.exit(err.exit_code)
    except click.ClickException as err:
        click.echo(f"error: {err.format_message()}", err=True)
        sys.exit(err.exit_code)
    except click.Abort:  # Ctrl-C (or end of input) at a prompt
        click.echo("error: aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
