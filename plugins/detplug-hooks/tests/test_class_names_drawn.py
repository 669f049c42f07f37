"""Class names in any script are drawn, not boxes (issue 26, wall 6): CJK and emoji in the
pictures and in labels.png without missing-glyph warnings, and labels.png readable at 80
classes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from detplug_hooks.drawing import draw_detections
from detplug_hooks.fonts import drawable
from detplug_hooks.plots.labels import labels_figure, plot_labels


def drawn_name(name: str) -> np.ndarray:
    image = torch.zeros(3, 60, 120, dtype=torch.uint8)
    none = torch.zeros(0)
    picture = draw_detections(image, torch.tensor([[2.0, 2, 110, 50]]), torch.tensor([0]),
                              torch.zeros(0, 4), none, none, classes=[name])  # fmt: skip
    return np.asarray(picture)[36:52, 2:40]  # the label under the box's bottom-left corner


def test_cjk_and_emoji_names_draw_their_own_glyphs():
    pytest.importorskip("manimgx_fonts_cjk")  # detplug-hooks[fonts]
    assert drawable("猫 🐱") == "猫 🐱"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cat, dog, cat_face, dog_face = (drawn_name(n) for n in ("猫", "犬", "🐱", "🐶"))
    # a font without the glyph draws the same empty box for both names
    assert (cat != dog).any() and (cat_face != dog_face).any()
    assert (cat > 0).any()


def test_a_character_no_font_has_is_written_as_its_code():
    assert drawable("a\U000f0001b") == "a<U+F0001>b"  # a private-use code point


def test_labels_png_with_80_classes_is_readable_and_warns_nothing(tmp_path):
    classes = [f"类别{i:02d}" if i % 3 == 0 else f"class_{i:02d}_🐱" if i % 3 == 1
               else f"category number {i}" for i in range(80)]  # fmt: skip
    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(0, 100, (400, 2)), rng.uniform(120, 300, (400, 2))], 1)
    labels, sizes = rng.integers(0, 80, 400), np.full((400, 2), 320.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns for every missing glyph
        fig = labels_figure(boxes, labels, sizes, classes)
        fig.canvas.draw()
        ticks = [t for t in fig.axes[0].get_xticklabels() if t.get_text()]
        assert len(ticks) == 80 and min(t.get_fontsize() for t in ticks) >= 8
        spans = sorted((b.x0, b.x1) for b in (t.get_window_extent() for t in ticks))
        assert all(a[1] <= b[0] + 0.5 for a, b in zip(spans, spans[1:], strict=False))
        assert plot_labels(boxes, labels, sizes, classes, tmp_path / "labels.png").is_file()


def test_confusion_matrix_and_pr_curves_draw_cjk_and_emoji_names(tmp_path):
    from detplug_hooks.plots.confusion import plot_confusion
    from detplug_hooks.plots.matching import MatchAccumulator
    from detplug_hooks.plots.pr_curve import plot_pr_curves

    acc = MatchAccumulator(2, iou_thr=0.5, score_thr=0.25)
    box = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    acc.add({"boxes": box, "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([0, 1])},
            {"boxes": box, "labels": torch.tensor([0, 1]), "ignore": torch.zeros(2, dtype=bool)})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns for every missing glyph
        assert plot_confusion(acc, ["猫", "🐶 dog"], tmp_path / "c.png").is_file()
        assert plot_pr_curves(acc, ["猫", "🐶 dog"], tmp_path / "p.png").is_file()
