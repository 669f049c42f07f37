"""``detplug new-plugin``: generate a complete plugin distribution from file templates.

The templates live under ``templates/`` (package data): ``common/`` holds the files every
plugin gets, ``hook/``, ``model/`` and ``dataset/`` the example component of that kind. File
contents use :class:`string.Template` placeholders (``${module}``); a path part named
``_module_`` becomes the package name. Nothing here imports torch.
"""

from detplug_core.scaffold.generator import KINDS, generate_plugin
from detplug_core.scaffold.names import PluginNames, plugin_names

__all__ = ["KINDS", "PluginNames", "generate_plugin", "plugin_names"]
