"""Deployment speed on CPU: FCOS-R50 through eager detplug, eager torchvision (the same
weights), the torch.export ``.pt2`` program and onnxruntime, in one run.

    .venv/bin/python benchmarks/deploy_speed.py --size 512 --repeats 20 --threads 4

Each backend predicts one uint8 ``[3, S, S]`` image end to end (normalise, pad, network,
decoding, NMS; the exported ones hold all of that in the file). torchvision's
``fcos_resnet50_fpn`` gets ``min_size = max_size = S``, so its in-model resize is a scale
of exactly 1; detplug's models have no test-time resize here, so every backend runs the
network at S x S. Weights are random (random BN statistics, a class-logit bias that lets a
realistic few hundred candidates pass the 0.2 threshold), converted from torchvision to
detplug; outputs are checked to agree before timing. Rounds alternate the backends (the
order rotating), and each figure is the median (p50) or 90th percentile (p90) over
``--repeats`` rounds of wall time, plus the median process CPU time. Ratios are
torchvision's median wall time over each backend's (> 1: faster than torchvision).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detplug_torchvision.deploy.benchmark import machine  # noqa: E402
from detplug_torchvision.deploy.export import export_onnx, export_program  # noqa: E402
from detplug_torchvision.deploy.model import DeployModel  # noqa: E402
from detplug_torchvision.deploy.parity import compare  # noqa: E402
from fcos_speed import build_models  # noqa: E402  (same models and weights as fcos_speed.py)


def backends(size: int, workdir: str) -> dict[str, Callable[[], tuple]]:
    """name -> a call predicting the benchmark image, returning (boxes, scores, labels)."""
    import onnxruntime as ort

    ours, tv = build_models(size, size)
    ours.eval(), tv.eval()
    deploy = DeployModel(ours).eval()
    image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=_gen())

    @torch.inference_mode()
    def detplug_eager() -> tuple:
        return tuple(t.numpy() for t in deploy(image))

    @torch.inference_mode()
    def torchvision_eager() -> tuple:
        out = tv([image.float() / 255])[0]
        return out["boxes"].numpy(), out["scores"].numpy(), out["labels"].numpy()

    program = export_program(deploy, (size, size), dynamic=False)
    pt2 = program.module(check_guards=False)

    @torch.inference_mode()
    def detplug_pt2() -> tuple:
        return tuple(t.numpy() for t in pt2(image))

    path = export_onnx(deploy, os.path.join(workdir, "fcos.onnx"), (size, size), False, {})
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {"image": image.numpy()}

    def onnxruntime() -> tuple:
        return tuple(session.run(None, feed))

    return {
        "torchvision eager": torchvision_eager,
        "detplug eager": detplug_eager,
        "detplug pt2": detplug_pt2,
        "onnxruntime": onnxruntime,
    }


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def check(cases: dict[str, Callable[[], tuple]], size: int) -> None:
    """Every backend against torchvision (labels shifted: detplug keeps all 91 slots)."""
    ref = cases["torchvision eager"]()
    print(f"torchvision: {len(ref[1])} detections")
    for name, fn in cases.items():
        if name == "torchvision eager":
            continue
        parity = compare(ref, fn(), (size, size))
        print(f"{name:<18} vs torchvision: {parity}")
        if parity.unmatched or parity.box_diff > 1e-3 or parity.score_diff > 1e-3:
            raise SystemExit(f"{name}: outputs differ from torchvision's")


def measure(cases: dict[str, Callable[[], tuple]], repeats: int) -> dict[str, dict]:
    for fn in cases.values():  # warm-up (one-time allocations, oneDNN primitive caches)
        fn()
        fn()
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            cases[name]()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    out = {}
    for name in names:
        w = walls[name]
        p90 = statistics.quantiles(w, n=10)[-1] if len(w) > 1 else w[0]
        out[name] = {"p50": statistics.median(w), "p90": p90, "cpu": statistics.median(cpus[name])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="S of the S x S input image")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch and ORT threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine(torch.device("cpu")))
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as workdir:
        cases = backends(args.size, workdir)
        check(cases, args.size)
        results = measure(cases, args.repeats)
    base = results["torchvision eager"]["p50"]
    print(f"\nFCOS-R50, one {args.size}x{args.size} image, {args.repeats} rounds")
    print(f"{'backend':<18} {'p50 ms':>8} {'p90 ms':>8} {'cpu ms':>8} {'img/s':>7} {'vs tv':>6}")
    for name, r in results.items():
        print(
            f"{name:<18} {r['p50'] * 1e3:>8.1f} {r['p90'] * 1e3:>8.1f} {r['cpu'] * 1e3:>8.1f} "
            f"{1 / r['p50']:>7.2f} {base / r['p50']:>5.2f}x"
        )


if __name__ == "__main__":
    main()
