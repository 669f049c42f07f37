"""Safe YAML reading (with the line of every key) and the matching YAML writer.

Only plain data is ever constructed: a tag that would build a Python object
(``!!python/object``, ``!!python/name``, any custom ``!tag``) is refused. Two deliberate
differences from plain ``yaml.safe_load``:

* ``1e-4`` reads as a float (YAML 1.1 wants ``1.0e-4``, which surprises everyone who writes a
  learning rate); the writer quotes strings that look like that, so dumps still load back;
* a key written twice in one mapping is an error instead of the last one silently winning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from detplug_core.config.sources import SourceMap
from detplug_core.config.tree import KeyPath, plain_copy
from detplug_core.errors import ConfigError

_MERGE_TAG = "tag:yaml.org,2002:merge"
_UNICODE_BREAKS = "\x85\u2028\u2029"
# Entries visited while recording lines: guards against alias bombs ("billion laughs").
_MAX_ENTRIES = 200_000


# YAML 1.1 reads ``1e-4`` as a string; read it (and ``1.0e4``) as a float.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class ConfigLoader(yaml.SafeLoader):
    """A safe loader that records the line of every mapping key and sequence item."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # id(container) -> (container, lines); the container is kept so its id stays unique.
        self.key_lines: dict[int, tuple[dict, dict[Any, int]]] = {}
        self.item_lines: dict[int, tuple[list, list[int]]] = {}

    def _check_duplicate_keys(self, node: MappingNode) -> None:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            ident = (key_node.tag, key_node.value)
            line = key_node.start_mark.line + 1
            if ident in seen:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first set at line {seen[ident]})",
                    key_node.start_mark,
                )
            seen[ident] = line

    def construct_tracked_map(self, node: MappingNode) -> Iterator[dict]:
        data: dict = {}
        yield data
        self._check_duplicate_keys(node)
        data.update(self.construct_mapping(node))  # also expands ``<<`` merge keys
        lines = {
            self.construct_object(key_node): key_node.start_mark.line + 1
            for key_node, _ in node.value
        }
        self.key_lines[id(data)] = (data, lines)

    def construct_tracked_seq(self, node: SequenceNode) -> Iterator[list]:
        data: list = []
        yield data
        data.extend(self.construct_sequence(node))
        self.item_lines[id(data)] = (data, [item.start_mark.line + 1 for item in node.value])

    def construct_refused(self, node: Any) -> None:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise ConstructorError(
            None,
            None,
            f"YAML tag {tag!r} is not allowed: configs are loaded safely and hold plain data "
            "only (mappings, lists, strings, numbers, booleans, null)",
            node.start_mark,
        )


ConfigLoader.add_constructor("tag:yaml.org,2002:map", ConfigLoader.construct_tracked_map)
ConfigLoader.add_constructor("tag:yaml.org,2002:seq", ConfigLoader.construct_tracked_seq)
ConfigLoader.add_constructor(None, ConfigLoader.construct_refused)


class ConfigDumper(yaml.SafeDumper):
    """A safe dumper whose quoting agrees with :class:`ConfigLoader`'s implicit types."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a dump spells every value out: no &anchors or *aliases

    def represent_config_str(self, data: str) -> Any:
        # PyYAML writes these line breaks bare and reads them back as spaces: escape them.
        style = '"' if any(c in data for c in _UNICODE_BREAKS) else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


ConfigDumper.add_representer(str, ConfigDumper.represent_config_str)
for _cls in (ConfigLoader, ConfigDumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))
del _cls


class FileDumper(ConfigDumper):
    """Block style for mappings, one line for lists of scalars (``img_scale: [1333, 800]``)."""

    def represent_config_dict(self, data: dict) -> Any:
        return self.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)

    def represent_config_list(self, data: list) -> Any:
        flat = all(not isinstance(item, dict | list) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


FileDumper.add_representer(dict, FileDumper.represent_config_dict)
FileDumper.add_representer(list, FileDumper.represent_config_list)


def _error_text(filename: str, error: yaml.YAMLError, text: str) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        message = f"{filename}:{mark.line + 1}:{mark.column + 1}: {error.problem}"
        if error.context:
            where = f" at line {error.context_mark.line + 1}" if error.context_mark else ""
            message += f" ({error.context}{where})"
        return message
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        return f"{filename}:{line}: unacceptable character #x{error.character:04x} in YAML"
    return f"{filename}: {error}"


def parse_yaml(text: str, filename: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document; return the data and the ``file:line`` of every key path.

    The data is a tree of fresh dicts and lists: a YAML alias becomes an independent copy.
    """
    try:
        loader = ConfigLoader(text)  # checks for unprintable characters
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise ConfigError(_error_text(filename, error, text)) from None
    except RecursionError:
        raise ConfigError(f"{filename}: values are nested too deeply") from None
    sources = SourceMap()
    _record_lines(data, (), loader, filename, sources, set(), [0])
    return plain_copy(data), sources


def parse_yaml_value(text: str) -> Any:
    """Parse a YAML value without file context (override values). Raises ``yaml.YAMLError``."""
    loader = ConfigLoader(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    try:
        return plain_copy(data)
    except RecursionError:
        raise yaml.YAMLError("a recursive alias or values nested too deeply") from None


def yaml_error_message(error: yaml.YAMLError) -> str:
    """A one-line description of a YAML error raised by :func:`parse_yaml_value`."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem:
        return str(error.problem)
    return str(error).splitlines()[0]


def _record_lines(
    data: Any,
    path: KeyPath,
    loader: ConfigLoader,
    filename: str,
    sources: SourceMap,
    active: set[int],
    count: list[int],
) -> None:
    if isinstance(data, dict):
        _, lines = loader.key_lines.get(id(data), (None, {}))
        items: Any = data.items()
        get_line = lines.get
    elif isinstance(data, list):
        _, item_lines = loader.item_lines.get(id(data), (None, []))
        items = enumerate(data)

        def get_line(i: int) -> int | None:
            return item_lines[i] if i < len(item_lines) else None
    else:
        return
    if id(data) in active:
        where = sources.locate(path) or filename
        raise ConfigError(f"{where}: recursive YAML alias (a value that contains itself)")
    active.add(id(data))
    for key, value in items:
        count[0] += 1
        if count[0] > _MAX_ENTRIES:
            raise ConfigError(f"{filename}: too many values after expanding YAML aliases")
        child = (*path, key)
        line = get_line(key)
        if line is not None:
            sources.set(child, f"{filename}:{line}")
        _record_lines(value, child, loader, filename, sources, active, count)
    active.discard(id(data))


def dump_yaml(data: Any) -> str:
    """YAML text for plain data (dicts, lists, scalars), keys in their given order."""
    return yaml.dump(
        data,
        Dumper=FileDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


def dump_yaml_inline(value: Any) -> str:
    """One-line YAML (flow style) for a value, e.g. to write a command-line override."""
    text = yaml.dump(
        value,
        Dumper=ConfigDumper,
        default_flow_style=True,
        allow_unicode=True,
        width=float("inf"),
    )
    if text.endswith("\n...\n"):
        text = text[: -len("\n...\n")]
    return text.rstrip("\n")
