"""Latency of one detector through several backends, measured the same way for each.

Each backend is a callable taking a list of uint8 ``[3, H, W]`` images (one batch) and
running the whole prediction: test-time resize, normalise, pad, network, post-processing.
A backend that only takes one image (the exported formats) runs the batch image by image.

Backends are timed alternately (:func:`alternate`): each round calls every backend once,
the order rotating from round to round, so a machine that slows down or speeds up while
the benchmark runs (other processes, frequency scaling) affects every backend alike
rather than whichever ran during that period.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from detplug_core.errors import ConfigError
from detplug_torchvision.deploy.export import (
    example_image,
    export_onnx,
    export_program,
    inference_module,
)
from detplug_torchvision.deploy.extras import require
from detplug_torchvision.deploy.model import DeployModel
from detplug_torchvision.masks import image_masks

BACKENDS = ("eager", "channels_last", "pt2", "onnxruntime", "onnxruntime_int8")
Runner = Callable[[list[Tensor]], object]


@dataclass
class Timing:
    backend: str
    p50_ms: float
    p90_ms: float
    images_per_s: float
    runs: int


def parse_device(text: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` (available here), else a :class:`ConfigError`."""
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise ConfigError(f"--device {text}: expected cpu, cuda or cuda:N")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {text}: no CUDA device is available here")
        if index and int(index) >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {text}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return torch.device(text)


def machine(device: torch.device) -> str:
    """One line: CPU model and threads, or GPU name; torch version."""
    if device.type == "cuda":
        where = f"GPU {torch.cuda.get_device_name(device)}"
    else:
        where = f"CPU {_cpu_model()}, {torch.get_num_threads()} threads"
    return f"{where}; torch {torch.__version__}, Python {platform.python_version()}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_backend(
    name: str, model: DeployModel, size: tuple[int, int], device: torch.device, workdir: str
) -> Runner:
    """The callable of backend ``name`` (one of :data:`BACKENDS`), on its own copy of
    ``model`` (the eager backends change its memory format)."""
    model = copy.deepcopy(model)
    if name in ("eager", "channels_last"):
        return _eager(model, name == "channels_last")
    if name == "pt2":
        if device.type != "cpu":
            raise ConfigError("backend pt2: benchmarked on the CPU only; use --device cpu")
        module = inference_module(export_program(model, size, dynamic=False))
        return lambda images: [module(img) for img in images]
    if name in ("onnxruntime", "onnxruntime_int8"):
        ort = require("onnxruntime", "the onnxruntime backend")
        path = export_onnx(model, os.path.join(workdir, "model.onnx"), size, False, {})
        if name == "onnxruntime_int8":
            from detplug_torchvision.deploy.quantize import quantize_int8

            int8 = os.path.join(workdir, "model_int8.onnx")
            # Calibrated on the benchmark's own random images: fine for timing.
            calibration = [example_image(size, seed).numpy() for seed in range(4)]
            quantize_int8(path, int8, calibration)
            path = int8
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        session = ort.InferenceSession(str(path), options, providers=providers)
        feed = session.get_inputs()[0].name
        return lambda images: [session.run(None, {feed: img.cpu().numpy()}) for img in images]
    raise ConfigError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")


def _eager(model: DeployModel, channels_last: bool) -> Runner:
    pre = getattr(model.detector, "preprocessor", None)
    if pre is not None and hasattr(pre, "channels_last"):
        pre.channels_last = channels_last
    model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    @torch.inference_mode()
    def run(images: list[Tensor]) -> object:
        outputs = model.detect(images)
        # A mask model's masks pasted in its image, as Detector and the exported files give them.
        sizes = [(image.shape[-2], image.shape[-1]) for image in images]
        return outputs, [image_masks(o, size) for o, size in zip(outputs, sizes, strict=True)]

    return run


def alternate(
    cases: dict[str, Callable[[], object]],
    warmup: int,
    rounds: int,
    sync: Callable[[], None] = lambda: None,
) -> dict[str, list[tuple[float, float]]]:
    """``warmup`` untimed calls of each case, then ``rounds`` rounds that call every case
    once, the order rotating by one each round; per case, the (wall, process CPU) seconds
    of each timed call."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    names = list(cases)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            sync()
            wall, cpu = time.perf_counter(), time.process_time()
            cases[name]()
            sync()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def summarise(name: str, walls: Sequence[float], images: int) -> Timing:
    p50 = statistics.median(walls)
    p90 = statistics.quantiles(walls, n=10)[-1] if len(walls) > 1 else walls[0]
    return Timing(name, p50 * 1e3, p90 * 1e3, images / p50, len(walls))


def run_benchmark(
    model: DeployModel,
    backends: Sequence[str],
    size: tuple[int, int],
    batch: int,
    device: torch.device,
    warmup: int,
    iters: int,
) -> list[Timing]:
    """Time every backend on the same ``batch`` random uint8 images of ``size``, in
    ``iters`` alternating rounds (:func:`alternate`)."""
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ConfigError(f"unknown backend(s) {', '.join(unknown)}; choose from {BACKENDS}")
    images = [example_image(size, seed).to(device) for seed in range(batch)]
    model = model.to(device).eval()
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as workdir:
        cases = {}
        for name in backends:
            run = make_backend(name, model, size, device, workdir)
            cases[name] = lambda run=run: run(images)
        times = alternate(cases, warmup, iters, sync)
    return [summarise(name, [wall for wall, _ in times[name]], batch) for name in backends]


def format_timings(timings: Sequence[Timing], baseline: str | None = None) -> str:
    """An aligned table; ``speedup`` against the first backend (or ``baseline``)."""
    base = next((t for t in timings if t.backend == baseline), timings[0] if timings else None)
    header = f"{'backend':<14} {'p50 ms':>9} {'p90 ms':>9} {'images/s':>9} {'speedup':>8}"
    lines = [header]
    for t in timings:
        speedup = base.p50_ms / t.p50_ms if base else 1.0
        lines.append(
            f"{t.backend:<14} {t.p50_ms:>9.1f} {t.p90_ms:>9.1f} {t.images_per_s:>9.2f} "
            f"{speedup:>7.2f}x"
        )
    return "\n".join(lines)
