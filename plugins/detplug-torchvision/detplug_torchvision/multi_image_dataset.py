"""``MultiImageMixDataset``: runs a pipeline with multi-image steps (Mosaic, MixUp) over
any detplug dataset, and switches to a second pipeline late in training.

```yaml
dataset:
  type: MultiImageMixDataset
  dataset: {type: CocoDataset, ..., transforms: null}   # any dataset; its own transforms
  transforms: [{type: Mosaic, size: 640}, ..., {type: ToFloatImage}]   # stage 0
  switch_transforms: [..., {type: ToFloatImage}]        # stage 1 (PipelineSwitchHook)
```

The stage lives in a one-element tensor in shared memory, made when the dataset is built,
i.e. before any DataLoader worker starts: persistent workers hold their own copy of the
dataset, but that copy shares the tensor, so a stage the main process sets is what every
worker reads. ``PipelineSwitchHook`` sets it before each data pass's iterator is created,
so the samples of a pass all see one stage (docs/augmentation.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from detplug_core.errors import BuildError
from detplug_torchvision.registries import DATASETS
from detplug_torchvision.transforms.bridge import build_transform
from detplug_torchvision.transforms.multi_image import MultiImageTransform

__all__ = ["MultiImageMixDataset", "find_mix_datasets"]

Step = Callable[..., Any]


def _build_steps(cfgs: Sequence[Mapping | Step] | None, key: str) -> list[Step]:
    if cfgs is None:
        return []
    if not isinstance(cfgs, list | tuple):
        raise BuildError(f"MultiImageMixDataset.{key}: expected a list of transforms, got {cfgs!r}")
    return [build_transform(cfg) for cfg in cfgs]


@DATASETS.register()
class MultiImageMixDataset(Dataset):
    """Item ``i`` is ``dataset[i]`` run through ``transforms`` (or ``switch_transforms``
    once switched); a :class:`MultiImageTransform` step gets its partner samples from
    ``dataset`` (indices drawn with torch's generator, loaded with ``dataset``'s own
    transforms). ``classes`` and ``len`` are the inner dataset's."""

    def __init__(
        self,
        dataset: Mapping | Dataset,
        transforms: Sequence[Mapping | Step] | None = None,
        switch_transforms: Sequence[Mapping | Step] | None = None,
    ) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, Mapping) else dataset
        classes = getattr(self.dataset, "classes", None)
        if classes is None:
            raise BuildError(
                f"MultiImageMixDataset.dataset: {type(self.dataset).__name__} has no 'classes'"
            )
        self.classes = list(classes)
        self.pipelines = [_build_steps(transforms, "transforms")]
        if switch_transforms is not None:
            steps = _build_steps(switch_transforms, "switch_transforms")
            self.pipelines.append(steps)
        self._stage = torch.zeros((), dtype=torch.int32).share_memory_()

    @property
    def num_stages(self) -> int:
        return len(self.pipelines)

    @property
    def stage(self) -> int:
        """0: ``transforms``; 1: ``switch_transforms``."""
        return int(self._stage)

    def set_stage(self, stage: int) -> None:
        """Select the pipeline (in every DataLoader worker too: shared memory)."""
        if not 0 <= stage < self.num_stages:
            raise ValueError(
                f"MultiImageMixDataset: stage {stage} does not exist (it has "
                f"{self.num_stages}; stage 1 needs switch_transforms)"
            )
        self._stage.fill_(stage)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, dict]:
        image, target = self.dataset[index]
        for step in self.pipelines[self.stage]:
            if isinstance(step, MultiImageTransform):
                partners = step.choose_partners(len(self.dataset))
                if partners is not None:
                    others = [self.dataset[j] for j in partners]
                    image, target = step.mix((image, target), others)
            else:
                image, target = step(image, target)
        return image, target

    def __repr__(self) -> str:
        return (
            f"MultiImageMixDataset({type(self.dataset).__name__}, {len(self)} samples, "
            f"stage {self.stage} of {self.num_stages})"
        )


def find_mix_datasets(dataset: Any) -> list[MultiImageMixDataset]:
    """Every :class:`MultiImageMixDataset` in ``dataset``, looking through wrappers that
    keep their datasets in ``dataset`` / ``datasets`` (Subset, Concat, Repeat, the runner's
    seeding wrapper)."""
    return list(_walk(dataset))


def _walk(dataset: Any) -> Iterator[MultiImageMixDataset]:
    if isinstance(dataset, MultiImageMixDataset):
        yield dataset
        return
    attrs = vars(dataset) if hasattr(dataset, "__dict__") else {}
    inner = attrs.get("dataset")
    if inner is not None:
        yield from _walk(inner)
    for part in attrs.get("datasets") or []:
        yield from _walk(part)
