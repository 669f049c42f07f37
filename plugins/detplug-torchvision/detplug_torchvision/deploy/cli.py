"""``detplug export`` and ``detplug benchmark``: plugin commands of detplug-torchvision."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

DEFAULT_TRACE_SIZE = (480, 640)


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "pt2"]),
    default="onnx",
    show_default=True,
    help="onnx (dynamo exporter) or pt2 (torch.export).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option(
    "--dynamic", is_flag=True, help="Any image height and width (else the graph takes only --size)."
)
@click.option(
    "--size",
    nargs=2,
    type=int,
    default=None,
    metavar="H W",
    help="Image size of a fixed-size export; with --dynamic, the size traced with "
    "(default 480 640).",
)
@click.option("--opset", type=int, default=None, help="ONNX opset (18 or newer).")
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="With a config instead of a checkpoint: the weights to load.",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Run the exported file next to PyTorch: the same detections and masks (float), or "
    "the mAP change on the validation images (int8). A failed check exits with code 1.",
)
@click.option(
    "--quantize",
    type=click.Choice(["none", "int8"]),
    default="none",
    show_default=True,
    help="int8: onnxruntime quantization of the convolutions, static with calibration "
    "images from the config's validation set (dynamic when it has none).",
)
@click.option(
    "--calibration-images",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="With --quantize int8: validation images to calibrate on.",
)
@click.option(
    "--check-images",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="With --quantize int8: validation images the mAP check scores (at most).",
)
@click.option(
    "--max-map-drop",
    type=click.FloatRange(min=0),
    default=0.02,
    show_default=True,
    help="With --quantize int8: the largest mAP drop the check accepts.",
)
def export(checkpoint: str, fmt: str, out: str, dynamic: bool, size: tuple[int, int] | None,
           opset: int | None, weights: str | None, check: bool, quantize: str,
           calibration_images: int, check_images: int, max_map_drop: float) -> None:  # fmt: skip
    """Export CHECKPOINT (pre- and post-processing included) to ONNX or a .pt2 program.

    The file takes one uint8 RGB [3, H, W] image (input 'image') and returns boxes [K, 4]
    in that image's pixels, scores [K] and labels [K] (outputs 'boxes', 'scores',
    'labels'), and for a mask model (Mask R-CNN) masks uint8 [K, H, W] in that image's
    pixels, 1 where the mask probability is at least 0.5 (output 'masks'); class names,
    output names and the input contract are in its metadata. Needs the extra
    'detplug-torchvision[onnx]' for ONNX."""
    from detplug_core.errors import ConfigError
    from detplug_torchvision.deploy.export_command import run_export

    if size is None and not dynamic:
        raise ConfigError("give --size H W for a fixed-size export, or --dynamic for any size")
    if opset is not None and fmt != "onnx":
        raise ConfigError(f"--opset applies to --format onnx only, not {fmt}")
    if quantize != "none" and fmt != "onnx":
        raise ConfigError(f"--quantize {quantize} applies to --format onnx only, not {fmt}")
    if size is not None and min(size) < 1:
        raise ConfigError(f"--size {size[0]} {size[1]}: height and width must be positive")
    run_export(
        checkpoint,
        fmt,
        out,
        dynamic,
        tuple(size) if size else DEFAULT_TRACE_SIZE,
        opset=opset,
        weights=weights,
        check=check,
        int8=quantize == "int8",
        calibration_images=calibration_images,
        check_images=check_images,
        max_map_drop=max_map_drop,
        echo=click.echo,
    )


@click.command("benchmark")
@click.argument("source", metavar="CHECKPOINT_OR_CONFIG", type=click.Path(dir_okay=False))
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="With a config: weights to load (default: random init, fine for speed).",
)
@click.option(
    "--size",
    nargs=2,
    type=int,
    default=(480, 640),
    show_default=True,
    metavar="H W",
    help="Input image size (the config's test-time resize applies).",
)
@click.option(
    "--no-resize", is_flag=True, help="Skip the test-time resize: the network runs at --size."
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Images per call."
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option(
    "--backends",
    default="eager,channels_last,pt2,onnxruntime",
    show_default=True,
    help="Comma-separated: eager, channels_last, pt2, onnxruntime, onnxruntime_int8.",
)
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True)
@click.option(
    "--iters",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Timed rounds; each calls every backend once, in rotating order.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="CPU threads (default: torch's)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def benchmark(source: str, weights: str | None, size: tuple[int, int], no_resize: bool,
              batch: int, device: str, backends: str, warmup: int, iters: int,
              threads: int | None, as_json: bool) -> None:  # fmt: skip
    """Latency (p50/p90) and images per second of a detector, per backend, in one table.

    Backends are timed alternately: each round calls every backend once, the order
    rotating, so a busy or drifting machine slows all of them alike."""
    import torch

    from detplug_core.errors import ConfigError
    from detplug_torchvision.deploy.benchmark import (
        format_timings,
        machine,
        parse_device,
        run_benchmark,
    )
    from detplug_torchvision.deploy.model import DeployModel
    from detplug_torchvision.deploy.resize import eval_resize_from_config
    from detplug_torchvision.inference.loading import load_model

    if min(size) < 1:
        raise ConfigError(f"--size {size[0]} {size[1]}: height and width must be positive")
    dev = parse_device(device)
    if threads:
        torch.set_num_threads(threads)
    names = [b.strip() for b in backends.split(",") if b.strip()]
    loaded = load_model(source, weights, random_init=True)
    resize = None if no_resize else eval_resize_from_config(loaded.config)
    model = DeployModel(loaded.model, resize)
    timings = run_benchmark(model, names, tuple(size), batch, dev, warmup, iters)
    info = {
        "model": type(loaded.model).__name__,
        "source": source,
        "input": f"{batch} x uint8 [3, {size[0]}, {size[1]}]",
        "preprocessing": resize.describe() if resize else "no resize",
        "machine": machine(dev),
    }
    if as_json:
        click.echo(json.dumps({**info, "results": [asdict(t) for t in timings]}, indent=1))
        return
    for key, value in info.items():
        click.echo(f"{key}: {value}")
    click.echo(format_timings(timings))
