"""``detplug new-plugin``: names, files, errors, a light --help, clean generated code."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from detplug_core.errors import DetplugError
from detplug_core.scaffold import KINDS, generate_plugin, plugin_names
from detplug_core.scaffold.generator import core_requirement

ROOT = Path(__file__).parents[2]
DETPLUG = [sys.executable, "-m", "detplug_core.cli.main"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mixup", ("detplug-mixup", "detplug_mixup", "mixup", "Mixup")),
        ("detplug-my-hooks", ("detplug-my-hooks", "detplug_my_hooks", "my_hooks", "MyHooks")),
        (
            "My_Fancy.Data",
            ("detplug-my-fancy-data", "detplug_my_fancy_data", "my_fancy_data", "MyFancyData"),
        ),
    ],
)
def test_every_name_derives_from_the_one_typed(name, expected):
    names = plugin_names(name)
    assert (names.distribution, names.module, names.scope, names.camel) == expected


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("1abc", "invalid plugin name '1abc'"),
        ("a--b", "invalid plugin name"),
        ("detplug-", "invalid plugin name"),
        ("class", "scope 'class' is reserved"),
        ("x" * 31, "too long"),
    ],
)
def test_bad_names_are_refused(name, reason):
    with pytest.raises(DetplugError, match=reason):
        plugin_names(name)


def test_core_requirement_is_the_current_minor_series():
    assert core_requirement("0.1.0") == "detplug-core>=0.1,<0.2"
    assert core_requirement("1.4.2") == "detplug-core>=1.4,<2.0"


EXPECTED_FILES = {
    "hook": [
        "configs/fcos_shapes.yaml",
        "hooks.py",
        "tests/test_hooks.py",
        "tests/test_recipe.py",
        "tests/tiny_components.py",
    ],
    "model": [
        "backbone.py",
        "configs/fcos_shapes.yaml",
        "tests/test_backbone.py",
        "tests/test_recipe.py",
    ],
    "dataset": ["dataset.py", "tests/test_dataset.py"],
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_complete_distribution_is_written(tmp_path, kind):
    target = generate_plugin("demo-kit", kind, tmp_path)
    assert target == tmp_path / "detplug-demo-kit"
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    pkg = [
        "detplug_demo_kit/__init__.py",
        "detplug_demo_kit/py.typed",
        "detplug_demo_kit/registries.py",
    ]
    extra = [f if f.startswith("tests/") else f"detplug_demo_kit/{f}" for f in EXPECTED_FILES[kind]]
    assert files == sorted(["README.md", "pyproject.toml", *pkg, *extra])
    meta = tomllib.loads((target / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "detplug-demo-kit"
    assert meta["project"]["entry-points"]["detplug.plugins"] == {"demo_kit": "detplug_demo_kit"}
    assert meta["project"]["dependencies"][0] == "detplug-core>=0.1,<0.2"
    assert meta["project"]["license"] == "Apache-2.0"  # SPDX, with setuptools>=77
    assert meta["build-system"]["requires"] == ["setuptools>=77"]
    assert not [d for d in meta["project"]["dependencies"] if "==" in d]  # ranges, no pins
    if kind != "dataset":  # its packaged config is based on one shipped in detplug-fcos
        config = (target / "detplug_demo_kit" / "configs" / "fcos_shapes.yaml").read_text()
        assert "_base_: fcos::fcos_r18_fpn_shapes.yaml" in config and "demo_kit." in config
        assert meta["project"]["optional-dependencies"]["recipes"] == [
            "detplug-fcos[shapes]>=0.1,<0.2"
        ]
    registries = (target / "detplug_demo_kit" / "registries.py").read_text()
    assert f'parent=detplug_core.{KINDS[kind].registry},\n    scope="demo_kit"' in registries
    for path in target.rglob("*"):
        if path.is_file():
            assert "${" not in path.read_text(), path  # every placeholder was filled
            compile_if_python(path)


def compile_if_python(path: Path) -> None:
    if path.suffix == ".py":
        compile(path.read_text(), str(path), "exec")


@pytest.mark.skipif(
    shutil.which("ruff", path=str(Path(sys.executable).parent)) is None,
    reason="ruff is not installed beside this Python",
)
def test_generated_code_is_ruff_clean_with_its_own_settings(tmp_path):
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    for kind in KINDS:
        # the longest allowed name: no generated line may outgrow 100 characters
        generate_plugin(f"{kind}-" + "x" * (29 - len(kind)), kind, tmp_path)
        generate_plugin(f"{kind}q", kind, tmp_path)
    for args in (["check"], ["format", "--check"]):
        res = subprocess.run(
            [ruff, *args, "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stdout + res.stderr


def test_an_existing_non_empty_folder_is_never_overwritten(tmp_path):
    (tmp_path / "detplug-taken").mkdir()
    (tmp_path / "detplug-taken" / "keep.txt").write_text("mine")
    with pytest.raises(DetplugError, match="already exists and is not empty"):
        generate_plugin("taken", "hook", tmp_path)
    assert (tmp_path / "detplug-taken" / "keep.txt").read_text() == "mine"


def test_the_cli_writes_the_plugin_and_says_what_next(tmp_path):
    res = subprocess.run(
        [*DETPLUG, "new-plugin", "cli-made", "--kind", "model", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    target = tmp_path / "detplug-cli-made"
    assert f"created {target} (model plugin, scope 'cli_made')" in res.stdout
    assert "  detplug_cli_made/backbone.py" in res.stdout and "pytest" in res.stdout
    assert (target / "detplug_cli_made" / "backbone.py").is_file()


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
    res = subprocess.run(
        [*DETPLUG, "new-plugin", "9lives", "--dir", str(tmp_path)], capture_output=True, text=True
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: invalid plugin name '9lives': use letters, digits and single '-', '_' or '.' "
        "between them, starting with a letter (e.g. 'my-hooks')"
    ]
    res = subprocess.run(
        [*DETPLUG, "new-plugin", "x", "--kind", "metric"], capture_output=True, text=True
    )
    assert res.returncode == 2 and "'metric' is not one of 'hook', 'model', 'dataset'" in (
        res.stderr
    )


def test_new_plugin_help_imports_no_torch_and_no_plugin():
    probe = (
        "import sys\n"
        "from detplug_core.cli.main import main\n"
        "try:\n    main(['new-plugin', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m == 'torch' or m.startswith('detplug_')\n"
        "         and not m.startswith('detplug_core')]\n"
        "print('HEAVY', sorted(heavy), file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "HEAVY []" in res.stderr, res.stderr
    assert "--kind [hook|model|dataset]" in res.stdout


def test_every_template_is_shipped_as_package_data():
    """The root pyproject's package-data patterns match every template file."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["detplug_core.scaffold"]
    package = ROOT / "detplug_core" / "scaffold"
    templates = [
        p.relative_to(package).as_posix()
        for p in (package / "templates").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert templates
    for rel in templates:
        assert any(fnmatch.fnmatch(rel, pat.replace("**/", "*")) for pat in patterns), rel
    assert set(KINDS) == {p.name for p in (package / "templates").iterdir()} - {"common"}


def test_the_hook_recipe_adds_its_hook_to_the_inherited_ones_and_annotates_runner(tmp_path):
    """The packaged config appends (``_append_``) instead of replacing the recipe's hooks;
    the hook's stages take the core's RunnerView, not Any."""
    from detplug_core.config import load_config

    target = generate_plugin("demo-kit", "hook", tmp_path) / "detplug_demo_kit"
    recipe = load_config("fcos::fcos_r18_fpn_shapes.yaml")["hooks"]
    hooks = load_config(target / "configs" / "fcos_shapes.yaml")["hooks"]
    assert recipe and hooks == [*recipe, {"type": "demo_kit.DemoKitHook", "interval": 20}]
    code = (target / "hooks.py").read_text()
    assert "from detplug_core import Hook, RunnerView" in code
    assert "runner: RunnerView" in code and "runner: Any" not in code
