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

    Writes OUT_DIR/<name>.png with boxes, class names and scores drawn, and a mask model's
    masks as a see-through fill in the class colour (x.jpg and x.png become x_jpg.png and
    x_png.png), and OUT_DIR/predictions.json: COCO results entries (image_id, category_id,
    bbox as x,y,w,h, score, and for a mask model segmentation: the mask as COCO's
    compressed RLE {size: [H, W], counts}) plus file_name, the drawing's name and the class
    name. OUT_DIR may not be a folder of input images. An image that cannot be read is
    reported in one line and skipped; the others are still predicted and written, and the
    command exits with code 2 at the end."""
    from detplug_core.errors import DataError
    from detplug_torchvision.inference.detector import Detector
    from detplug_torchvision.inference.draw import draw_detections, save_png
    from detplug_torchvision.inference.files import check_out_dir, drawn_names, find_images
    from detplug_torchvision.inference.inputs import to_image_tensor

    paths = find_images(list(images))
    out = Path(out_dir)
    check_out_dir(out, paths)
    names = drawn_names(paths)
    detector = Detector(checkpoint, device=device)
    out.mkdir(parents=True, exist_ok=True)
    results, failed = [], []
    for image_id, (path, name) in enumerate(zip(paths, names, strict=True)):
        try:
            image = to_image_tensor(path)
        except DataError as err:
            failed.append(path)
            click.echo(f"error: {err}", err=True)
            continue
        found = detector.predict(image, score_thr=score_thr)
        drawn = draw_detections(
            image, found.boxes, found.labels, detector.classes, found.scores, masks=found.masks
        )
        save_png(drawn, out / name)
        for det in found.to_list():
            x1, y1, x2, y2 = det["box"]
            entry = {
                "image_id": image_id,
                "file_name": str(path),
                "drawn": name,
                "category_id": det["label"],
                "category": det["class_name"],
                "bbox": [round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)],
                "score": round(det["score"], 5),
            }
            if "segmentation" in det:
                entry["segmentation"] = det["segmentation"]
            results.append(entry)
        what = "boxes and masks" if found.masks is not None else "boxes"
        click.echo(f"{path}: {len(found)} {what} -> {out / name}")
    (out / "predictions.json").write_text(json.dumps(results, indent=1))
    click.echo(f"wrote {len(paths) - len(failed)} images and {out / 'predictions.json'}")
    if failed:
        raise DataError(
            f"{len(failed)} of {len(paths)} images could not be read (listed above); the "
            f"predictions of the others are in {out / 'predictions.json'}"
        )


@hookimpl
def detplug_cli_commands() -> list[click.Command]:
    from detplug_torchvision.deploy.cli import benchmark, export

    return [infer, export, benchmark]
