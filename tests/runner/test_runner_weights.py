"""load_from across class lists: the skip table, class_map by_name, published names."""

import pytest
import torch
from torch import nn

from detplug_core.errors import ConfigError
from detplug_core.runner.checkpoint import save_file
from detplug_core.runner.weights import LoadSpec, load_weights, read_source


class TwoStageHead(nn.Module):
    """A toy detector: a trunk, class logits with background first, class-specific deltas."""

    class_tensors = {"cls_score": (1, 1), "bbox_pred": (1, 4)}

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.trunk = nn.Linear(4, 8)
        self.cls_score = nn.Linear(8, num_classes + 1)
        self.bbox_pred = nn.Linear(8, (num_classes + 1) * 4)


class AnchorHead(nn.Module):
    """A toy dense head: A anchors x C classes of logits, no background slot."""

    class_tensors = {"cls_logits": (0, 1)}

    def __init__(self, num_classes: int, anchors: int = 3) -> None:
        super().__init__()
        self.cls_logits = nn.Conv2d(2, anchors * num_classes, 1)


def _save(tmp_path, model, classes):
    path = tmp_path / "src.pth"
    save_file({"model": model.state_dict(), "meta": {"classes": classes}}, path)
    return path


def test_other_class_count_loads_the_rest_and_reports_one_row_per_module(tmp_path):
    src = TwoStageHead(5)
    path = _save(tmp_path, src, ["a", "b", "c", "d", "e"])
    dst = TwoStageHead(2)
    before = dst.cls_score.weight.clone()
    report = load_weights(dst, path, classes=["x", "y"])
    assert torch.equal(dst.trunk.weight, src.trunk.weight)
    assert torch.equal(dst.cls_score.weight, before)  # kept as initialised
    assert report.loaded == 2 and report.total == 6
    rows = report.rows()
    assert rows == [
        ("cls_score", 2, "class count differs: checkpoint 5, model 2"),
        ("bbox_pred", 2, "class count differs: checkpoint 5, model 2"),
    ]
    text = "\n".join(report.lines())
    assert text.startswith("loaded 2 of 6 model tensors")
    assert "cls_score.weight" not in text  # modules, not a wall of key names


def test_by_name_keeps_rows_of_shared_classes_and_skips_placeholders(tmp_path):
    src = TwoStageHead(4)
    path = _save(tmp_path, src, ["person", "N/A", "car", "dog"])
    dst = TwoStageHead(3)
    init = dst.cls_score.weight.clone()
    report = load_weights(dst, path, classes=["car", "N/A", "person"], class_map="by_name")
    w, b = dst.cls_score.weight, dst.bbox_pred.weight
    assert torch.equal(w[0], src.cls_score.weight[0])  # background
    assert torch.equal(w[1], src.cls_score.weight[3])  # car: checkpoint row 1 + 2
    assert torch.equal(w[2], init[2])  # N/A never matches: initialised
    assert torch.equal(w[3], src.cls_score.weight[1])  # person
    assert torch.equal(b[4:8], src.bbox_pred.weight[12:16])  # car's four box deltas
    why = dict((m, w) for m, _, w in report.rows())
    assert (
        why["cls_score"] == "class_map by_name: kept 2 of 3 classes (car, person); initialised N/A"
    )


def test_by_name_with_anchor_groups_and_the_same_class_count(tmp_path):
    src = AnchorHead(2)
    path = _save(tmp_path, src, ["a", "b"])
    dst = AnchorHead(2)
    load_weights(dst, path, classes=["b", "a"], class_map="by_name")
    theirs = src.cls_logits.weight.view(3, 2, 2, 1, 1)
    ours = dst.cls_logits.weight.view(3, 2, 2, 1, 1)
    assert torch.equal(ours[:, 0], theirs[:, 1]) and torch.equal(ours[:, 1], theirs[:, 0])


def test_by_name_needs_declared_tensors_and_names(tmp_path):
    path = tmp_path / "w.pth"
    save_file({"model": nn.Linear(2, 2).state_dict()}, path)
    with pytest.raises(ConfigError, match="declares no class_tensors; .* has no class names"):
        load_weights(nn.Linear(2, 2), path, classes=["a"], class_map="by_name")


def test_load_spec_and_published_names(tmp_path):
    assert LoadSpec.parse("w.pth") == LoadSpec("w.pth", "by_position")
    assert LoadSpec.parse({"path": "w.pth", "class_map": "by_name"}).class_map == "by_name"
    with pytest.raises(ConfigError, match="class_map: must be one of by_position, by_name"):
        LoadSpec.parse({"path": "w.pth", "class_map": "names"})
    offered = {"Toy_Weights.V1": lambda: {"model": {}}}
    assert read_source("Toy_Weights.V1", offered) == {"model": {}}
    with pytest.raises(ConfigError, match=r"Toy_Weights.V2: .* supported: Toy_Weights.V1"):
        read_source("Toy_Weights.V2", offered)


def test_runner_reads_load_from_names_and_mappings(tmp_path, toy_config, toy):
    from detplug_core import Runner

    cfg = toy_config(tmp_path / "a", load_from="Nope_Weights.COCO_V1")
    with pytest.raises(ConfigError, match="Nope_Weights.COCO_V1: no installed plugin"):
        with Runner(cfg) as runner:
            runner.test()
    cfg = toy_config(tmp_path / "b", train={"by_epoch": False, "max_iters": 1})
    with Runner(cfg) as runner:
        runner.train()
    spec = {"path": str(tmp_path / "b" / "latest.pth"), "class_map": "by_name"}
    with pytest.raises(ConfigError, match="ToyDetector declares no class_tensors"):
        with Runner(toy_config(tmp_path / "c", load_from=spec)) as runner:
            runner.test()


def test_same_count_other_names_by_position_says_so(tmp_path):
    src = AnchorHead(2)
    path = _save(tmp_path, src, ["a", "b"])
    dst = AnchorHead(2)
    report = load_weights(dst, path, classes=["x", "y"])
    assert torch.equal(dst.cls_logits.weight, src.cls_logits.weight)
    assert report.clean and report.lines() == [
        "class names differ (checkpoint: a, b; data: x, y): same-shaped class rows were loaded "
        "by position; load_from.class_map: by_name keeps only same-named ones"
    ]
