"""Dataset records kept in a few numpy arrays, so that DataLoader workers read them without
copying pages.

A list of per-image Python objects is copied into every worker page by page as it is read
(each access writes the objects' reference counts): at COCO's 118k images that is tens of MB
per worker, times workers, times ranks. :class:`RecordStore` holds the same records as
columns (one array per field, strings packed into one byte buffer with offsets, the boxes of
all images in one array with a start offset per image, as detectron2 and MMEngine serialise
their dataset lists), and makes an :class:`ImageRecord` only for the record asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

__all__ = ["ImageRecord", "NumberedColumn", "RecordStore", "StringColumn"]


@dataclass(frozen=True)
class ImageRecord:
    """One image and its annotations, boxes as float32 xyxy pixels."""

    path: str
    file_name: str
    image_id: int
    height: int
    width: int
    boxes: np.ndarray  # float32 [N, 4]
    labels: np.ndarray  # int64 [N]
    ignore: np.ndarray  # bool [N]
    source: str = ""  # the annotation file (and entry) the record came from
    #: int64 [N]: the dataset's own index of each box (which annotation it came from), kept
    #: through clean-up so that a dataset finds the mask of a kept box
    #: (``DetectionDataset.load_masks``); None means 0..N-1 in the order given.
    ann_index: np.ndarray | None = None


class StringColumn:
    """Strings in one uint8 buffer with int64 offsets; their common prefix (a folder, an
    annotation file name) is stored once. Any ``str`` round-trips, surrogates included."""

    def __init__(self, strings: Sequence[str]) -> None:
        strings = list(strings)
        prefix = os.path.commonprefix(strings) if strings else ""
        cut = len(prefix)
        rests = [s[cut:] for s in strings] if cut else strings
        joined = "".join(rests)
        data = joined.encode("utf-8", "surrogatepass")
        if len(data) == len(joined):  # ASCII: one byte per character
            lengths = list(map(len, rests))
        else:
            encoded = [s.encode("utf-8", "surrogatepass") for s in rests]
            lengths = list(map(len, encoded))
        self.prefix = prefix
        self.offsets = np.zeros(len(rests) + 1, np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.buffer = np.frombuffer(data, np.uint8)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str:
        start, end = self.offsets[index], self.offsets[index + 1]
        return self.prefix + self.buffer[start:end].tobytes().decode("utf-8", "surrogatepass")

    def tolist(self) -> list[str]:
        """All the strings (faster than one by one)."""
        data = self.buffer.tobytes()
        bounds = self.offsets.tolist()
        prefix = self.prefix
        return [
            prefix + data[a:b].decode("utf-8", "surrogatepass")
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def take(self, indices: np.ndarray) -> StringColumn:
        """The strings at ``indices`` (int [K]), copied without decoding them."""
        indices = np.asarray(indices, np.int64)
        lengths = np.diff(self.offsets)[indices]
        offsets = np.zeros(len(indices) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(self.offsets[indices] - offsets[:-1], lengths)
        taken = object.__new__(StringColumn)
        taken.prefix, taken.offsets = self.prefix, offsets
        taken.buffer = self.buffer[gather + np.arange(offsets[-1], dtype=np.int64)]
        return taken

    @property
    def nbytes(self) -> int:
        return self.offsets.nbytes + self.buffer.nbytes + len(self.prefix)


class NumberedColumn:
    """``prefix + str(number)`` strings (``"ann.json image_id 42"``) kept as their numbers."""

    def __init__(self, prefix: str, numbers: Any) -> None:
        self.prefix = prefix
        self.numbers = np.ascontiguousarray(numbers, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index: int) -> str:
        return f"{self.prefix}{int(self.numbers[index])}"

    def tolist(self) -> list[str]:
        return [f"{self.prefix}{n}" for n in self.numbers.tolist()]

    def take(self, indices: np.ndarray) -> NumberedColumn:
        return NumberedColumn(self.prefix, self.numbers[indices])

    @property
    def nbytes(self) -> int:
        return self.numbers.nbytes + len(self.prefix)


def _array(values: Any, dtype: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=dtype)
    return array.reshape(shape) if shape is not None else array


class RecordStore(Sequence[ImageRecord]):
    """The records of one dataset as columns; ``store[i]`` is an :class:`ImageRecord` (its
    arrays are copies: changing them changes nothing in the store)."""

    def __init__(
        self,
        *,
        paths: Sequence[str] | StringColumn,
        file_names: Sequence[str] | StringColumn,
        sources: Sequence[str] | StringColumn | NumberedColumn,
        image_ids: Any,
        heights: Any,
        widths: Any,
        box_start: Any,
        boxes: Any,
        labels: Any,
        ignore: Any,
        ann_index: Any = None,
    ) -> None:
        def column(values: Any) -> StringColumn | NumberedColumn:
            if isinstance(values, StringColumn | NumberedColumn):
                return values
            return StringColumn(values)

        self.paths, self.file_names, self.sources = (
            column(paths),
            column(file_names),
            column(sources),
        )
        self.image_ids = _array(image_ids, np.int64)
        self.heights = _array(heights, np.int64)
        self.widths = _array(widths, np.int64)
        self.box_start = _array(box_start, np.int64)
        self.boxes = _array(boxes, np.float32, (-1, 4))
        self.labels = _array(labels, np.int64)
        self.ignore = _array(ignore, bool)
        if ann_index is None:  # each box's position within its own record
            counts = np.diff(self.box_start)
            firsts = np.repeat(self.box_start[:-1], counts)
            ann_index = np.arange(len(self.boxes), dtype=np.int64) - firsts
        self.ann_index = _array(ann_index, np.int64)
        n, m = len(self.image_ids), len(self.boxes)
        sizes = {len(self.paths), len(self.file_names), len(self.sources)}
        sizes |= {len(self.heights), len(self.widths), len(self.box_start) - 1}
        if sizes != {n} or {
            len(self.labels),
            len(self.ignore),
            len(self.ann_index),
            int(self.box_start[-1]),
        } != {m}:
            raise ValueError("RecordStore: columns of different lengths")

    @classmethod
    def from_records(cls, records: Sequence[ImageRecord]) -> RecordStore:
        """The store of a list of :class:`ImageRecord` (how subclasses that build records
        one by one hand them over)."""
        if isinstance(records, RecordStore):
            return records
        counts = [len(r.boxes) for r in records]
        box_start = np.zeros(len(records) + 1, np.int64)
        np.cumsum(counts, out=box_start[1:])

        def joined(field: str, dtype: Any, width: int | None = None) -> np.ndarray:
            parts = [np.asarray(getattr(r, field), dtype) for r in records]
            if width is not None:
                parts = [p.reshape(-1, width) for p in parts]
            if parts:
                return np.concatenate(parts)
            return np.zeros((0, width) if width else 0, dtype)

        ann_index = [
            np.arange(len(r.boxes), dtype=np.int64) if r.ann_index is None else r.ann_index
            for r in records
        ]
        return cls(
            paths=[r.path for r in records],
            file_names=[r.file_name for r in records],
            sources=[r.source for r in records],
            image_ids=[r.image_id for r in records],
            heights=[r.height for r in records],
            widths=[r.width for r in records],
            box_start=box_start,
            boxes=joined("boxes", np.float32, 4),
            labels=joined("labels", np.int64).reshape(-1),
            ignore=joined("ignore", bool).reshape(-1),
            ann_index=np.concatenate(ann_index).astype(np.int64) if records else None,
        )

    def __len__(self) -> int:
        return len(self.image_ids)

    @overload
    def __getitem__(self, index: int) -> ImageRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[ImageRecord]: ...

    def __getitem__(self, index: int | slice) -> ImageRecord | list[ImageRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"record index {index} out of range for {n} records")
        i = int(index) % n
        start, end = int(self.box_start[i]), int(self.box_start[i + 1])
        return ImageRecord(
            path=self.paths[i],
            file_name=self.file_names[i],
            image_id=int(self.image_ids[i]),
            height=int(self.heights[i]),
            width=int(self.widths[i]),
            boxes=self.boxes[start:end].copy(),
            labels=self.labels[start:end].copy(),
            ignore=self.ignore[start:end].copy(),
            source=self.sources[i],
            ann_index=self.ann_index[start:end].copy(),
        )

    def __iter__(self) -> Iterator[ImageRecord]:
        return (self[i] for i in range(len(self)))

    def num_boxes(self) -> np.ndarray:
        """Boxes per record, int64 [N]."""
        return np.diff(self.box_start)

    def box_owner(self) -> np.ndarray:
        """The record index of every box, int64 [M]."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.num_boxes())

    def select(self, keep_records: np.ndarray, keep_boxes: np.ndarray | None = None) -> RecordStore:
        """The records where ``keep_records`` (bool [N]) is True, with only the boxes where
        ``keep_boxes`` (bool [M]) is True."""
        keep_records = np.asarray(keep_records, bool)
        box_keep = np.repeat(keep_records, self.num_boxes())
        if keep_boxes is not None:
            box_keep &= np.asarray(keep_boxes, bool)
        owner = self.box_owner()[box_keep]
        counts = np.bincount(owner, minlength=len(self))[keep_records]
        box_start = np.zeros(int(keep_records.sum()) + 1, np.int64)
        np.cumsum(counts, out=box_start[1:])
        rows = np.flatnonzero(keep_records)
        everything = bool(keep_records.all())
        return RecordStore(
            paths=self.paths if everything else self.paths.take(rows),
            file_names=self.file_names if everything else self.file_names.take(rows),
            sources=self.sources if everything else self.sources.take(rows),
            image_ids=self.image_ids[rows],
            heights=self.heights[rows],
            widths=self.widths[rows],
            box_start=box_start,
            boxes=self.boxes[box_keep],
            labels=self.labels[box_keep],
            ignore=self.ignore[box_keep],
            ann_index=self.ann_index[box_keep],
        )

    def with_boxes(self, boxes: np.ndarray) -> RecordStore:
        """The same records with ``boxes`` (float32 [M, 4]) in place of theirs."""
        copy = object.__new__(RecordStore)
        copy.__dict__.update(self.__dict__)
        copy.boxes = _array(boxes, np.float32, (-1, 4))
        return copy

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        columns = (self.paths, self.file_names, self.sources)
        arrays = (self.image_ids, self.heights, self.widths, self.box_start, self.boxes)
        arrays += (self.ann_index,)
        return (
            sum(c.nbytes for c in columns)
            + sum(a.nbytes for a in arrays)
            + (self.labels.nbytes + self.ignore.nbytes)
        )
