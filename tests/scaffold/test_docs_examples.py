"""The examples of docs/hooks.md and docs/plugin-guide.md work as the pages say.

Each ```python block after an ``<!-- example: NAME -->`` comment is written to a module and
registered as a plugin for one test with the ``detplug_plugin`` fixture. Real runs use the
tiny components that ``detplug new-plugin --kind hook`` generates for its own tests.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

from detplug_core.errors import BuildError
from detplug_core.scaffold import generate_plugin

DOCS = Path(__file__).parents[2] / "docs"
PATTERN = re.compile(r"<!-- example: (\w+) -->\n```python\n(.*?)```", re.DOTALL)
EXAMPLES = dict(PATTERN.findall((DOCS / "hooks.md").read_text()))
GUIDE = dict(PATTERN.findall((DOCS / "plugin-guide.md").read_text()))


def test_the_pages_have_their_examples():
    assert sorted(EXAMPLES) == [
        "adjust_config",
        "cli_command",
        "config_hook",
        "data_source",
        "gradient_stage",
        "plugin_stage",
    ]
    assert sorted(GUIDE) == ["hook", "metric", "registries", "test"]


@pytest.fixture
def load_example(tmp_path, detplug_plugin, monkeypatch):
    folder = tmp_path / "examples"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))

    def load(name: str):
        (folder / f"docs_example_{name}.py").write_text(EXAMPLES[name])
        return detplug_plugin.load_module(f"docs_example_{name}")

    return load


@pytest.fixture
def tiny_path(tmp_path, monkeypatch) -> None:
    """Puts the generated hook plugin's ``tiny_components`` module on ``sys.path``."""
    plugin = generate_plugin("docs-probe", "hook", tmp_path / "gen")
    monkeypatch.syspath_prepend(str(plugin / "tests"))


@pytest.fixture
def tiny(tiny_path, detplug_plugin):
    """The tiny model, dataset and metric (scope docs_probe_test), for this test."""
    return detplug_plugin.load_module("tiny_components")


def test_config_hook_and_plugin_stage_in_a_real_run(load_example, tiny, tmp_path):
    from detplug_core import HOOKS, Runner

    load_example("config_hook")
    load_example("plugin_stage")
    with pytest.raises(BuildError, match="LossSpikeHook.factor: must be > 1, got 1"):
        HOOKS.build({"type": "my_plugin.LossSpikeHook", "factor": 1})
    work = tmp_path / "run"
    cfg = tiny.tiny_config(str(work), [{"type": "my_plugin.LossSpikeHook", "factor": 1.5}])
    with Runner(cfg) as runner:
        runner.train()
    records = [json.loads(x) for x in (work / "scalars.jsonl").read_text().splitlines()]
    assert all("spike/count" in r for r in records)
    state = torch.load(work / "latest.pth", weights_only=True)["hooks"]["LossSpikeHook"]
    assert isinstance(state["mean"], float) and isinstance(state["spikes"], int)
    rows = [json.loads(x) for x in (work / "my_plugin_metrics.jsonl").read_text().splitlines()]
    assert rows == [{"iter": 2, "tiny/images": 2.0}, {"iter": 4, "tiny/images": 2.0}]


def test_gradient_stage_example_in_a_real_run(load_example, tiny, tmp_path):
    from detplug_core import Runner

    load_example("gradient_stage")
    work = tmp_path / "run"
    cfg = tiny.tiny_config(str(work), [{"type": "my_grad_plugin.GradNormHook"}])
    with Runner(cfg) as runner:
        runner.train()
    records = [json.loads(x) for x in (work / "scalars.jsonl").read_text().splitlines()]
    assert records and all(r["grad/norm"] > 0 for r in records)


def test_cli_command_example(load_example, tiny, tmp_path):
    from click.testing import CliRunner

    from detplug_core.cli.main import cli

    load_example("cli_command")
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "train_dataloader:\n  dataset: {type: docs_probe_test.TinyDataset, num_images: 5}\n"
    )
    result = CliRunner().invoke(cli, ["count-images", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "5"


def test_adjust_config_example(load_example):
    from detplug_core.plugins import make_plugin_manager

    load_example("adjust_config")
    pm = make_plugin_manager()
    cfg = {"val_dataloader": {"dataset": {"type": "my_plugin.CsvBoxes"}}}
    pm.hook.detplug_adjust_config(config=cfg)
    assert cfg["metrics"] == [{"type": "my_plugin.CsvRecall"}]
    mine = {**cfg, "metrics": [{"type": "CocoMetric"}]}
    pm.hook.detplug_adjust_config(config=mine)
    assert mine["metrics"] == [{"type": "CocoMetric"}]  # what the user wrote stays


def test_data_source_example(load_example, tmp_path):
    from detplug_core.data.source import find_data_source

    load_example("data_source")
    csv = tmp_path / "boxes.csv"
    csv.write_text("a.jpg,1,2,3,4,zebra\nb.jpg,1,2,3,4,ant\n")
    source = find_data_source(str(csv))
    assert source.format == "csv-boxes" and source.classes == ["ant", "zebra"]
    assert source.splits["val"] == {"type": "my_plugin.CsvBoxes", "file": str(csv), "part": "val"}


@pytest.fixture
def guide_package(tmp_path, monkeypatch):
    """The guide's ``detplug_my_hooks`` package (registries, hooks, metrics) on sys.path."""
    package = tmp_path / "guide" / "detplug_my_hooks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for module, example in (("registries", "registries"), ("hooks", "hook"), ("metrics", "metric")):
        (package / f"{module}.py").write_text(GUIDE[example])
    monkeypatch.syspath_prepend(str(package.parent))
    yield
    for name in [m for m in sys.modules if m.split(".")[0] == "detplug_my_hooks"]:
        del sys.modules[name]


def test_guide_hook_and_metric_in_a_real_run(guide_package, tiny, detplug_plugin, tmp_path):
    from detplug_core import HOOKS, Runner

    detplug_plugin.load_module("detplug_my_hooks.hooks")
    detplug_plugin.load_module("detplug_my_hooks.metrics")
    with pytest.raises(BuildError, match="SmallBatchWarningHook.min_batch: must be an int"):
        HOOKS.build({"type": "my_hooks.SmallBatchWarningHook", "min_batch": 0})
    work = tmp_path / "run"
    hooks = [{"type": "my_hooks.SmallBatchWarningHook", "min_batch": 64}]
    cfg = {**tiny.tiny_config(str(work), hooks), "metrics": [{"type": "my_hooks.ImageRecall"}]}
    with Runner(cfg) as runner:
        runner.train()
    assert "batch 2 is below min_batch 64" in (work / "log.txt").read_text()
    rows = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    assert [0 <= row["imgrecall/recall"] <= 1 for row in rows] == [True, True]


def test_guide_testing_example(tiny_path, detplug_plugin, tmp_path):
    namespace: dict = {}
    exec(compile(GUIDE["test"], "plugin-guide.md", "exec"), namespace)
    (test,) = [f for name, f in namespace.items() if name.startswith("test_")]
    test(detplug_plugin, tmp_path)
