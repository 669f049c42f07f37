"""Every config mistake is one ConfigError naming the file, the line and the key."""

from __future__ import annotations

import pytest

from detplug_core.config import load_config
from detplug_core.errors import ConfigError, DetplugError


def _error(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_config_error_is_a_user_error():
    assert issubclass(ConfigError, DetplugError) and ConfigError.exit_code == 2


def test_yaml_syntax_error_names_file_line_and_column(write):
    path = write("a.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    message = _error(path)
    assert message.startswith(f"{path}:3:")
    assert "while parsing a flow sequence at line 2" in message


def test_bad_indentation_names_the_line(write):
    path = write("a.yaml", "model:\n  type: FCOS\n    depth: 50\n")
    assert _error(path).startswith(f"{path}:3:")


def test_python_object_tags_are_refused(write, tmp_path):
    marker = tmp_path / "pwned"
    path = write(
        "a.yaml",
        f"ok: 1\nx: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    message = _error(path)
    assert message.startswith(f"{path}:2:")
    assert "!!python/object/apply:os.system" in message and "not allowed" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "x: !!python/name:os.system\n",
        "x: !!python/object:collections.OrderedDict {}\n",
        "x: !!python/tuple [1, 2]\n",
        "x: !custom 1\n",
    ],
)
def test_every_object_constructing_tag_is_refused(write, text):
    path = write("a.yaml", text)
    assert _error(path).startswith(f"{path}:1:")


def test_json_syntax_error_names_file_line_and_column(write):
    path = write("a.json", '{\n  "a": 1,\n}\n')
    assert _error(path).startswith(f"{path}:3:1:")


def test_duplicate_key_is_an_error(write):
    path = write("a.yaml", "optimizer:\n  lr: 0.1\n  lr: 0.2\n")
    message = _error(path)
    assert message.startswith(f"{path}:3:") and "duplicate key 'lr'" in message
    assert "line 2" in message


def test_duplicate_key_in_json_is_an_error(write):
    path = write("a.json", '{"a": 1,\n "a": 2}')
    assert _error(path) == f"{path}:2: duplicate key 'a' (first set at line 1)"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert _error(path) == f"config file '{path}' does not exist"


def test_unsupported_extension(write):
    path = write("a.py", "model = dict()\n")
    message = _error(path)
    assert str(path) in message and ".yaml" in message and ".json" in message


def test_directory_is_an_error(tmp_path):
    folder = tmp_path / "configs.yaml"
    folder.mkdir()
    assert "is a directory" in _error(folder)


@pytest.mark.parametrize(("text", "kind"), [("- 1\n- 2\n", "a list"), ("just text\n", "a str")])
def test_top_level_must_be_a_mapping(write, text, kind):
    path = write("a.yaml", text)
    message = _error(path)
    assert message.startswith(f"{path}: the top level") and kind in message


def test_missing_base_names_the_including_file_and_line(write):
    write("one.yaml", "a: 1\n")
    path = write("top.yaml", "x: 1\n_base_:\n  - one.yaml\n  - two.yaml\n")
    message = _error(path)
    assert message.startswith(f"{path}:4: base file 'two.yaml' not found")


def test_missing_base_given_as_a_string(write):
    path = write("top.yaml", "_base_: nope.yaml\n")
    assert _error(path).startswith(f"{path}:1: base file 'nope.yaml' not found")


def test_cyclic_bases_show_the_cycle(write):
    a = write("a.yaml", "_base_: b.yaml\n")
    b = write("b.yaml", "x: 1\n_base_: [a.yaml]\n")
    assert _error(a) == f"{b}:2: cyclic _base_: {a} -> {b} -> {a}"


def test_a_file_that_is_its_own_base(write):
    a = write("a.yaml", "_base_: ./a.yaml\n")
    assert _error(a) == f"{a}:1: cyclic _base_: {a} -> {a}"


@pytest.mark.parametrize("value", ["3", "[1]", "['']", "{a: b}"])
def test_base_must_be_file_names(write, value):
    path = write("a.yaml", f"_base_: {value}\n")
    assert _error(path).startswith(f"{path}:1: _base_ must be a file name")


def test_base_only_at_top_level(write):
    path = write("a.yaml", "model:\n  _base_: m.yaml\n")
    assert _error(path).startswith(f"{path}:2: _base_ is only allowed at the top level")


def test_delete_must_be_a_boolean(write):
    path = write("a.yaml", "opt:\n  _delete_: yes please\n")
    message = _error(path)
    assert message.startswith(f"{path}:2: 'opt._delete_' must be true or false")


def test_errors_in_a_base_name_the_base_file(write):
    base = write("base.yaml", "a: [1\n")
    path = write("top.yaml", "_base_: base.yaml\n")
    assert _error(path).startswith(f"{base}:2:")


def test_reference_to_a_missing_key_names_holder_location_and_suggestion(write):
    path = write(
        "a.yaml",
        """
        model:
          num_classes: 3
          head:
            num_classes: ${model.num_clases}
        """,
    )
    assert _error(path) == (
        f"{path}:4: unknown key 'model.num_clases' in reference '${{model.num_clases}}' at "
        "'model.head.num_classes'; did you mean 'model.num_classes'?"
    )


def test_recursive_yaml_alias_is_an_error(write):
    path = write("a.yaml", "a: &loop\n  - *loop\n")
    assert "recursive YAML alias" in _error(path)


def test_non_utf8_file_is_an_error(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_bytes(b"a: \xff\xfe\n")
    assert _error(path).startswith(f"{path}: not UTF-8")


def test_unprintable_character_names_the_line(write):
    path = write("a.yaml", 'a: 1\nb: "x\x01y"\n')
    assert _error(path) == f"{path}:2: unacceptable character #x0001 in YAML"


def test_tab_indentation_names_the_line(write):
    path = write("a.yaml", "a:\n\t- 1\n")
    assert _error(path).startswith(f"{path}:2:1: found character '\\t'")


def test_absurdly_deep_nesting_is_an_error_not_a_crash(write):
    path = write("a.yaml", "a: " + "[" * 600 + "]" * 600 + "\n")
    assert _error(path) == f"{path}: values are nested too deeply"


def test_alias_bomb_is_refused(write):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    path = write("a.yaml", "\n".join(lines) + "\n")
    assert _error(path) == f"{path}: too many values after expanding YAML aliases"


def test_base_with_an_unsupported_extension_names_the_including_line(write):
    write("model.py", "model = dict()\n")
    path = write("a.yaml", "_base_: model.py\n")
    assert _error(path) == f"{path}:1: base file 'model.py' is not a .yaml, .yml or .json file"


def test_a_base_linked_to_a_file_that_is_no_config_is_named_not_printed(write, tmp_path):
    prose = tmp_path / "notes.txt"
    prose.write_text("just some words over several lines of text\n" * 40)
    (tmp_path / "base.yaml").symlink_to(prose)
    path = write("top.yaml", "_base_: base.yaml\nseed: 1\n")
    message = _error(path)
    assert f"base.yaml (a link to {prose})" in message
    assert "got a str of 1719 characters ('just some words" in message
    assert len(message) < 400 and message.count("just some words") == 1
