"""Data-loading throughput on BCCD: detplug's VOCDataset + transforms against a plain
torchvision pipeline doing the same work, measured in the same run.

Both pipelines: decode the JPEG (torchvision.io.decode_image, RGB), resize keeping the
aspect ratio to a 600 short side / 1000 long side (boxes too), random horizontal flip,
convert to float32 0..1, batch with detection_collate. Ours builds its transforms from
configs (ResizeShortLong, RandomHorizontalFlip, ToFloatImage) and parses the annotations
at construction; the reference gets pre-parsed boxes for free.

Timing is built to survive a shared, busy machine: without workers the two loaders run in
lockstep, batch by batch, each batch timed on its own, so load from other processes hits
both alike; with workers, whole passes alternate. ``--epochs`` timed passes follow one
warm-up pass; the best pass counts.

Run:  python benchmarks/data_loading.py [--root ../shared/data/BCCD] [--epochs 3]
"""

from __future__ import annotations

import argparse
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch
from detplug_voc.dataset import VOCDataset
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import v2

from detplug_core.data import detection_collate

CLASSES = ["RBC", "WBC", "Platelets"]
DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "BCCD"


class ReferenceDataset(Dataset):
    """The plain torchvision way: decode_image + v2 transforms over pre-parsed boxes."""

    def __init__(self, root: Path, split: str, short: int, long: int) -> None:
        ids = (root / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        self.items = []
        for key in ids:
            xml = ET.parse(root / "Annotations" / f"{key}.xml").getroot()
            boxes, labels = [], []
            for obj in xml.iter("object"):
                b = obj.find("bndbox")
                x1, y1, x2, y2 = (float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
                boxes.append([x1 - 1, y1 - 1, x2, y2])
                labels.append(CLASSES.index(obj.find("name").text))
            self.items.append((str(root / "JPEGImages" / f"{key}.jpg"), boxes, labels))
        self.transforms = v2.Compose(
            [
                v2.Resize(size=short, max_size=long, antialias=True),
                v2.RandomHorizontalFlip(0.5),
                v2.ToDtype(torch.float32, scale=True),
            ]
        )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, boxes, labels = self.items[index]
        image = tv_tensors.Image(decode_image(read_file(path), mode=ImageReadMode.RGB))
        target = {
            "boxes": tv_tensors.BoundingBoxes(
                boxes, format="XYXY", canvas_size=tuple(image.shape[-2:]), dtype=torch.float32
            ),
            "labels": torch.tensor(labels, dtype=torch.int64),
        }
        return self.transforms(image, target)


def loader(dataset: Dataset, workers: int, batch_size: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=detection_collate,
    )


def one_pass(data: DataLoader) -> float:
    """Images per second over one epoch."""
    start, count = time.perf_counter(), 0
    for images, _ in data:
        count += len(images)
    return count / (time.perf_counter() - start)


def lockstep_pass(a: DataLoader, b: DataLoader) -> tuple[float, float]:
    """Images per second of ``a`` and ``b`` over one epoch each, batches interleaved."""
    seconds, counts = [0.0, 0.0], [0, 0]
    iters = [iter(a), iter(b)]
    while True:
        for k in (0, 1):
            start = time.perf_counter()
            batch = next(iters[k], None)
            if batch is None:
                return counts[0] / seconds[0], counts[1] / seconds[1]
            seconds[k] += time.perf_counter() - start
            counts[k] += len(batch[0])


def best_rates(ours: DataLoader, ref: DataLoader, workers: int, epochs: int) -> tuple[float, float]:
    """Best images/s of each over ``epochs`` passes, after a warm-up pass."""
    best_ours = best_ref = 0.0
    for epoch in range(epochs + 1):
        if workers == 0:
            rate_ours, rate_ref = lockstep_pass(ours, ref)
        else:
            rate_ours, rate_ref = one_pass(ours), one_pass(ref)
        if epoch > 0:  # the first pass warms workers and the file cache
            best_ours, best_ref = max(best_ours, rate_ours), max(best_ref, rate_ref)
    return best_ours, best_ref


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--split", default="trainval")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--short", type=int, default=600)
    parser.add_argument("--long", type=int, default=1000)
    args = parser.parse_args()
    warnings_off()

    ours = VOCDataset(
        str(args.root),
        split=args.split,
        classes=CLASSES,
        transforms=[
            {"type": "ResizeShortLong", "short": args.short, "long": args.long},
            {"type": "RandomHorizontalFlip", "p": 0.5},
            {"type": "ToFloatImage"},
        ],
    )
    reference = ReferenceDataset(args.root, args.split, args.short, args.long)
    a, b = ours[0], reference[0]
    assert a[0].shape == b[0].shape and a[0].dtype == b[0].dtype == torch.float32

    print(f"BCCD {args.split}: {len(ours)} images, batch {args.batch_size}, "
          f"resize {args.short}/{args.long} + flip + float, torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip
    print(f"{'workers':>7} {'ours img/s':>11} {'torchvision img/s':>18} {'ratio':>6}")
    for workers in args.workers:
        ours_loader = loader(ours, workers, args.batch_size)
        ref_loader = loader(reference, workers, args.batch_size)
        best_ours, best_ref = best_rates(ours_loader, ref_loader, workers, args.epochs)
        print(f"{workers:>7} {best_ours:>11.1f} {best_ref:>18.1f} {best_ours / best_ref:>6.2f}")


def warnings_off() -> None:
    """torchvision 0.29 deprecates its decoders (TorchCodec); not what is measured here."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)


if __name__ == "__main__":
    main()
