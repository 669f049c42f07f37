"""The names a plugin is known by, all derived from the one the user types."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from detplug_core.errors import DetplugError

PREFIX = "detplug-"
MAX_SCOPE = 30  # keeps every generated line within 100 characters
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*([-_.][A-Za-z0-9]+)*$")


@dataclass(frozen=True)
class PluginNames:
    """``detplug new-plugin my-hooks`` gives::

    distribution detplug-my-hooks   (pip install / uninstall, required_plugins)
    module       detplug_my_hooks   (the import package; the entry-point value)
    scope        my_hooks           (entry-point name and registry scope: my_hooks.MyHooksHook)
    camel        MyHooks            (prefix of the example component's class name)
    """

    distribution: str
    module: str
    scope: str
    camel: str

    @property
    def env_prefix(self) -> str:
        return f"DETPLUG_{self.scope.upper()}"


def plugin_names(name: str) -> PluginNames:
    """Derive every name from ``name``; ``detplug-`` is prepended when it is missing."""
    if not _NAME_RE.match(name):
        raise DetplugError(
            f"invalid plugin name {name!r}: use letters, digits and single '-', '_' or '.' "
            "between them, starting with a letter (e.g. 'my-hooks')"
        )
    dist = re.sub(r"[-_.]+", "-", name).lower()
    if not dist.startswith(PREFIX):
        dist = PREFIX + dist
    scope = dist[len(PREFIX) :].replace("-", "_")
    if not scope:
        raise DetplugError(f"invalid plugin name {name!r}: nothing follows 'detplug-'")
    if len(scope) > MAX_SCOPE:
        raise DetplugError(
            f"plugin name {name!r} is too long: at most {MAX_SCOPE} characters after 'detplug-'"
        )
    if keyword.iskeyword(scope) or scope in ("detplug", "core"):
        raise DetplugError(f"invalid plugin name {name!r}: scope {scope!r} is reserved")
    camel = "".join(part.capitalize() for part in scope.split("_"))
    return PluginNames(dist, dist.replace("-", "_"), scope, camel)
