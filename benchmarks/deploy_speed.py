"""Deployment speed on CPU: FCOS-R50 through eager torchvision, eager detplug (the same
weights), onnxruntime float32 and onnxruntime int8, alternated, at one or more thread
counts; and the int8 model's accuracy against float32 on a trained checkpoint.

    .venv/bin/python benchmarks/deploy_speed.py --size 512 --repeats 20 --threads 1 2
    .venv/bin/python benchmarks/deploy_speed.py --accuracy /tmp/mainjob/latest.pth --skip-speed

Speed: each backend predicts one uint8 ``[3, S, S]`` image end to end (normalise, pad,
network, decoding, NMS; the exported ones hold all of that in the file). torchvision's
``fcos_resnet50_fpn`` gets ``min_size = max_size = S``, so its in-model resize is a scale
of exactly 1; detplug's models have no test-time resize here. Weights are random (random
BN statistics, a class-logit bias that lets a realistic few hundred candidates pass the
0.2 threshold), converted from torchvision to detplug; float outputs are checked to agree
before timing. The int8 file is what ``detplug export --quantize int8`` writes (static
QDQ quantization of the convolutions), calibrated here on random images: its speed does
not depend on them. Rounds alternate the backends, the order rotating
(``detplug_torchvision.deploy.benchmark.alternate``, as ``detplug benchmark`` does); each
figure is the median (p50) or 90th percentile (p90) over ``--repeats`` rounds of wall
time, plus the median process CPU time. Ratios are torchvision's median wall time over
each backend's (> 1: faster than torchvision). ``--pt2`` adds the ``.pt2`` program.

Accuracy (``--accuracy CHECKPOINT``): the checkpoint exported to ONNX float32 and int8
(calibrated on ``--calibration-images`` validation images, as ``detplug export`` does),
and the config's metric (COCO mAP for the shapes main job) of eager PyTorch, ONNX float32
and ONNX int8 on the config's validation images.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detplug_torchvision.deploy.benchmark import alternate, machine  # noqa: E402
from detplug_torchvision.deploy.export import (  # noqa: E402
    example_image,
    export_onnx,
    export_program,
    inference_module,
)
from detplug_torchvision.deploy.model import DeployModel  # noqa: E402
from detplug_torchvision.deploy.parity import compare  # noqa: E402
from detplug_torchvision.deploy.quantize import quantize_int8  # noqa: E402
from fcos_speed import build_models  # noqa: E402  (same models and weights as fcos_speed.py)

Case = Callable[[], tuple]


def exported_files(deploy: DeployModel, size: int, workdir: str) -> dict[str, str]:
    """The float32 ONNX file of ``deploy`` at ``size`` and its int8 quantization."""
    float_path = export_onnx(deploy, os.path.join(workdir, "fcos.onnx"), (size, size), False, {})
    int8_path = os.path.join(workdir, "fcos_int8.onnx")
    quantize_int8(float_path, int8_path, [example_image((size, size), s).numpy() for s in range(8)])
    return {"onnxruntime": str(float_path), "onnxruntime int8": int8_path}


def backends(
    ours: torch.nn.Module, tv: torch.nn.Module, files: dict[str, str], size: int, threads: int,
    pt2: Callable | None,
) -> dict[str, Case]:  # fmt: skip
    """name -> a call predicting the benchmark image, returning (boxes, scores, labels)."""
    import onnxruntime as ort

    torch.set_num_threads(threads)
    deploy = DeployModel(ours).eval()
    image = example_image((size, size))

    @torch.inference_mode()
    def torchvision_eager() -> tuple:
        out = tv([image.float() / 255])[0]
        return out["boxes"].numpy(), out["scores"].numpy(), out["labels"].numpy()

    @torch.inference_mode()
    def detplug_eager() -> tuple:
        return tuple(t.numpy() for t in deploy(image))

    cases: dict[str, Case] = {
        "torchvision eager": torchvision_eager,
        "detplug eager": detplug_eager,
    }
    if pt2 is not None:
        cases["detplug pt2"] = lambda: tuple(t.numpy() for t in pt2(image))
    for name, path in files.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {"image": image.numpy()}
        cases[name] = lambda session=session, feed=feed: tuple(session.run(None, feed))
    return cases


def check(cases: dict[str, Case], size: int) -> None:
    """Every float backend against torchvision; int8 only reported (it cannot match)."""
    ref = cases["torchvision eager"]()
    print(f"torchvision: {len(ref[1])} detections")
    for name, fn in cases.items():
        if name == "torchvision eager":
            continue
        parity = compare(ref, fn(), (size, size))
        print(f"{name:<18} vs torchvision: {parity}")
        exact = parity.unmatched == 0 and parity.box_diff <= 1e-3 and parity.score_diff <= 1e-3
        if "int8" not in name and not exact:
            raise SystemExit(f"{name}: outputs differ from torchvision's")


def speed(args: argparse.Namespace) -> None:
    ours, tv = build_models(args.size, args.size)
    ours.eval(), tv.eval()
    with tempfile.TemporaryDirectory() as workdir:
        files = exported_files(DeployModel(ours).eval(), args.size, workdir)
        pt2 = None
        if args.pt2:
            program = export_program(DeployModel(ours).eval(), (args.size, args.size), False)
            pt2 = inference_module(program)
        for threads in args.threads:
            cases = backends(ours, tv, files, args.size, threads, pt2)
            print(f"\n{machine(torch.device('cpu'))}")
            check(cases, args.size)
            times = alternate(cases, warmup=2, rounds=args.repeats)
            report(times, args.size, args.repeats, threads)


def report(times: dict[str, list[tuple[float, float]]], size: int, rounds: int, threads: int):
    base = statistics.median(wall for wall, _ in times["torchvision eager"])
    print(f"FCOS-R50, one {size}x{size} image, {rounds} alternated rounds, {threads} thread(s)")
    print(f"{'backend':<18} {'p50 ms':>8} {'p90 ms':>8} {'cpu ms':>8} {'img/s':>7} {'vs tv':>6}")
    for name, pairs in times.items():
        walls = [wall for wall, _ in pairs]
        p50 = statistics.median(walls)
        p90 = statistics.quantiles(walls, n=10)[-1] if len(walls) > 1 else walls[0]
        cpu = statistics.median(c for _, c in pairs)
        print(
            f"{name:<18} {p50 * 1e3:>8.1f} {p90 * 1e3:>8.1f} {cpu * 1e3:>8.1f} "
            f"{1 / p50:>7.2f} {base / p50:>5.2f}x"
        )


def accuracy(args: argparse.Namespace) -> None:
    """Metric of eager float32, ONNX float32 and ONNX int8 on the validation images."""
    from detplug_torchvision.deploy.check import eager_runner, exported_runner, main_metric
    from detplug_torchvision.deploy.resize import eval_resize_from_config
    from detplug_torchvision.deploy.validation import validation_set
    from detplug_torchvision.inference.loading import load_model

    torch.set_num_threads(args.threads[-1])
    loaded = load_model(args.accuracy)
    deploy = DeployModel(loaded.model, eval_resize_from_config(loaded.config)).eval()
    data = validation_set(loaded.config)
    size = tuple(next(data.images(1)).shape[-2:])
    with tempfile.TemporaryDirectory() as workdir:
        float_path = export_onnx(deploy, os.path.join(workdir, "float.onnx"), size, True, {})
        int8_path = os.path.join(workdir, "int8.onnx")
        calibration = [im.numpy() for im in data.images(args.calibration_images)]
        quantize_int8(float_path, int8_path, calibration)
        runs = {
            "eager float32": eager_runner(deploy),
            "onnx float32": exported_runner(float_path, "onnx", args.threads[-1]),
            "onnx int8": exported_runner(int8_path, "onnx", args.threads[-1]),
        }
        with torch.inference_mode():
            results = {name: data.evaluate(run) for name, run in runs.items()}
    key = main_metric(results["eager float32"])
    print(f"\n{args.accuracy}: {key} on the {len(data)} images of {data.where}")
    print(f"int8 calibrated on {len(calibration)} of them (static QDQ, convolutions)")
    for name, metrics in results.items():
        change = metrics[key] - results["onnx float32"][key]
        print(f"{name:<14} {key} {metrics[key]:.4f}  AP50 {_ap50(metrics):.4f}  ({change:+.4f})")


def _ap50(metrics: dict[str, float]) -> float:
    return next((v for k, v in metrics.items() if k.endswith("/AP50")), float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="S of the S x S input image")
    parser.add_argument("--repeats", type=int, default=20, help="alternated rounds")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts")
    parser.add_argument("--pt2", action="store_true", help="also time the .pt2 program")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--accuracy", metavar="CHECKPOINT", help="int8 vs float32 metric")
    parser.add_argument("--calibration-images", type=int, default=32)
    args = parser.parse_args()
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, numpy {np.__version__}")
    if not args.skip_speed:
        speed(args)
    if args.accuracy:
        accuracy(args)


if __name__ == "__main__":
    main()
