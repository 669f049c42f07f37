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
    help="Run the exported file once and compare it with PyTorch.",
)
def export(checkpoint: str, fmt: str, out: str, dynamic: bool, size: tuple[int, int] | None,
           opset: int | None, weights: str | None, check: bool) -> None:  # fmt: skip
    """Export CHECKPOINT (pre- and post-processing included) to ONNX or a .pt2 program.

    The file takes one uint8 RGB [3, H, W] image and returns boxes [K, 4] in that image's
    pixels, scores [K] and labels [K]; class names and the input contract are in its
    metadata. Needs the extra 'detplug-torchvision[onnx]' for ONNX."""
    import torch

    from detplug_core.errors import ConfigError
    from detplug_torchvision.deploy.export import export_onnx, export_pt2, metadata
    from detplug_torchvision.deploy.model import DeployModel
    from detplug_torchvision.deploy.resize import eval_resize_from_config
    from detplug_torchvision.inference.loading import load_model

    if size is None and not dynamic:
        raise ConfigError("give --size H W for a fixed-size export, or --dynamic for any size")
    if opset is not None and fmt != "onnx":
        raise ConfigError(f"--opset applies to --format onnx only, not {fmt}")
    if size is not None and min(size) < 1:
        raise ConfigError(f"--size {size[0]} {size[1]}: height and width must be positive")
    size = tuple(size) if size else DEFAULT_TRACE_SIZE
    if fmt == "onnx":  # a missing extra fails before the slow loading
        from detplug_torchvision.deploy.extras import require

        require("onnxscript", "ONNX export")
        require("onnx", "ONNX export")
    loaded = load_model(checkpoint, weights)
    model = DeployModel(loaded.model, eval_resize_from_config(loaded.config)).eval()
    meta = metadata(model, loaded.classes, checkpoint)
    if fmt == "onnx":
        path = export_onnx(model, out, size, dynamic, meta, opset)
    else:
        path = export_pt2(model, out, size, dynamic, meta)
    shape = "[3, H, W] (any H, W)" if dynamic else f"[3, {size[0]}, {size[1]}]"
    click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): {fmt}, input uint8 {shape}")
    click.echo(f"classes: {', '.join(loaded.classes) or '(none saved)'}")
    if check:
        from detplug_torchvision.deploy.check import compare_with_eager

        sizes = [size] + ([(size[0] // 2 + 7, size[1] + 33)] if dynamic else [])
        with torch.inference_mode():
            for line in compare_with_eager(model, path, fmt, sizes):
                click.echo(line)


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
@click.option("--batch", type=int, default=1, show_default=True, help="Images per call.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option(
    "--backends",
    default="eager,channels_last,pt2,onnxruntime",
    show_default=True,
    help="Comma-separated: eager, channels_last, pt2, onnxruntime.",
)
@click.option("--warmup", type=int, default=3, show_default=True)
@click.option("--iters", type=int, default=20, show_default=True, help="Timed calls.")
@click.option("--threads", type=int, default=None, help="CPU threads (default: torch's).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def benchmark(source: str, weights: str | None, size: tuple[int, int], no_resize: bool,
              batch: int, device: str, backends: str, warmup: int, iters: int,
              threads: int | None, as_json: bool) -> None:  # fmt: skip
    """Latency (p50/p90) and images per second of a detector, per backend, in one table."""
    import torch

    from detplug_core.errors import ConfigError
    from detplug_torchvision.deploy.benchmark import (
        format_timings,
        machine,
        run_benchmark,
    )
    from detplug_torchvision.deploy.model import DeployModel
    from detplug_torchvision.deploy.resize import eval_resize_from_config
    from detplug_torchvision.inference.loading import load_model

    if batch < 1 or iters < 1 or warmup < 0 or min(size) < 1:
        raise ConfigError("--batch, --iters and --size must be positive, --warmup >= 0")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here")
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
