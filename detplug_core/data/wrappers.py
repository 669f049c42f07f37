"""Dataset wrappers in the root DATASETS: concatenation and repetition (classic VOC schedule).

```yaml
dataset:
  type: RepeatDataset
  times: 3
  dataset:
    type: ConcatDataset
    datasets:
      - {type: VOCDataset, root: data/VOC2007, split: trainval}
      - {type: VOCDataset, root: data/VOC2012, split: trainval}
```
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset

from detplug_core.errors import DataError
from detplug_core.registry import DATASETS


def _build(cfg: Any) -> Any:
    return DATASETS.build(cfg) if isinstance(cfg, Mapping) else cfg


def _classes(dataset: Any, where: str) -> list[str]:
    classes = getattr(dataset, "classes", None)
    if classes is None:
        raise DataError(f"{where}: {type(dataset).__name__} has no 'classes' attribute")
    return list(classes)


@DATASETS.register()
class ConcatDataset(Dataset):
    """Several datasets with the same ``classes``, one after another."""

    def __init__(self, datasets: Sequence[Any]) -> None:
        if not datasets:
            raise DataError("ConcatDataset.datasets: needs at least one dataset")
        self.datasets = [_build(d) for d in datasets]
        self.classes = _classes(self.datasets[0], "ConcatDataset.datasets.0")
        for i, ds in enumerate(self.datasets[1:], start=1):
            if _classes(ds, f"ConcatDataset.datasets.{i}") != self.classes:
                raise DataError(
                    f"ConcatDataset.datasets.{i}: classes {_classes(ds, '')} differ from "
                    f"datasets.0 classes {self.classes}"
                )
        self.offsets = []
        total = 0
        for ds in self.datasets:
            total += len(ds)
            self.offsets.append(total)

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for ConcatDataset of {len(self)}")
        which = bisect.bisect_right(self.offsets, index)
        start = self.offsets[which - 1] if which else 0
        return self.datasets[which][index - start]


@DATASETS.register()
class RepeatDataset(Dataset):
    """``dataset`` repeated ``times`` times: one epoch visits each sample ``times`` times."""

    def __init__(self, dataset: Any, times: int) -> None:
        if not isinstance(times, int) or times < 1:
            raise DataError(f"RepeatDataset.times: expected a positive int, got {times!r}")
        self.dataset = _build(dataset)
        self.times = times
        self.classes = _classes(self.dataset, "RepeatDataset.dataset")
        self._len = len(self.dataset)

    def __len__(self) -> int:
        return self._len * self.times

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index % self._len]
