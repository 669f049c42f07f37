"""Exception types shared by the whole core.

Every error a user can cause (bad config, missing file, unknown component, broken plugin)
derives from :class:`DetplugError`. The CLI turns it into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DetplugError(Exception):
    """A user-facing error: the message alone must say what is wrong and where."""

    exit_code = 2
    #: the config key path the error is about, when known (the CLI adds its file and line)
    key_path: str | None = None


class ConfigError(DetplugError):
    """A config file or override is malformed (names file, line and key path)."""


class RegistryError(DetplugError):
    """A registry was misused: duplicate names or scopes."""


class NotFoundError(RegistryError, KeyError):
    """A type name could not be resolved in the registry tree."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AmbiguousNameError(RegistryError):
    """A bare type name matched components of several scopes."""


class BuildError(DetplugError):
    """A component could not be built from its config (bad argument name, ...)."""


class PluginError(DetplugError):
    """A plugin failed to load, or a config needs a plugin that is missing or failed."""


class CheckpointError(DetplugError):
    """A checkpoint file is missing, truncated, corrupt or unsafe."""


class DataError(DetplugError):
    """A dataset file is missing or malformed (names the file and the sample)."""


class ComponentError(DetplugError):
    """A component raised an unexpected error while being built: a bug in its plugin (exit 1;
    the message names the component and the plugin, ``--debug`` shows the traceback)."""

    exit_code = 1


class RefusedValueError(BuildError, ValueError):
    """A component raised ValueError about a config argument (still a ValueError for
    code that catches that)."""


class RefusedTypeError(BuildError, TypeError):
    """A component raised TypeError about a config argument (still a TypeError)."""


class DetplugWarning(UserWarning):
    """Something detplug reports and goes on with (the CLI prints one ``warning:`` line)."""


class PluginWarning(DetplugWarning):
    """A plugin problem that does not stop the run (an error in strict mode)."""
