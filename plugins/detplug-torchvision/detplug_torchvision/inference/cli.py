"""``detplug infer``: predictions drawn on images plus one JSON file (a plugin command)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from detplug_core import hookimpl


@click.command("infer")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("images", nargs=-1, required=True)
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--score-thr", default=0.3, show_default=True, help="Hide boxes scoring lower.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:1, auto.")
def infer(checkpoint: str, images: tuple[str, ...], out_dir: str, score_thr: float, device: str):
    """Run CHECKPOINT on IMAGES (files or folders, JPEG/PNG of any size and colour mode).

    Writes OUT_DIR/<name>.png with boxes, class names and scores drawn, and
    OUT_DIR/predictions.json: COCO results entries (image_id, category_id, bbox as x,y,w,h,
    score) plus file_name and class name."""
    from detplug_torchvision.inference.draw import draw_detections, save_png
    from detplug_torchvision.inference.predict import Predictor, find_images

    paths = find_images(list(images))
    predictor = Predictor(checkpoint, device=device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for image_id, (path, image, pred) in enumerate(predictor.predict_all(paths)):
        keep = pred["scores"] >= score_thr
        boxes, scores, labels = pred["boxes"][keep], pred["scores"][keep], pred["labels"][keep]
        drawn = draw_detections(image, boxes, labels, predictor.classes, scores)
        save_png(drawn, out / f"{path.stem}.png")
        for box, score, label in zip(boxes.tolist(), scores.tolist(), labels.tolist(), strict=True):
            x1, y1, x2, y2 = box
            results.append(
                {
                    "image_id": image_id,
                    "file_name": str(path),
                    "category_id": int(label),
                    "category": predictor.class_name(int(label)),
                    "bbox": [round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)],
                    "score": round(float(score), 5),
                }
            )
        click.echo(f"{path}: {int(keep.sum())} boxes")
    (out / "predictions.json").write_text(json.dumps(results, indent=1))
    click.echo(f"wrote {len(paths)} images and {out / 'predictions.json'}")


@hookimpl
def detplug_cli_commands() -> list[click.Command]:
    return [infer]
