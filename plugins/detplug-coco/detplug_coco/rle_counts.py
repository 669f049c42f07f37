"""The run lengths inside COCO's compressed RLE strings, read for many masks at once.

pycocotools decodes an RLE without checking that its runs add up to ``height * width``
(it writes as many pixels as the runs say), so a malformed ``counts`` string must be caught
before it reaches ``pycocotools.mask.decode``. :func:`rle_string_stats` reads every string
of a packed buffer in a few numpy passes (no Python loop per character) and gives, per
mask, whether the string is well formed, the sum of its runs and its area.

The format (pycocotools' ``rleToString``): each run is a signed integer written 5 bits per
character, low bits first, as ``chr(48 + bits)``; bit 0x20 says another character follows,
bit 0x10 of the last one is the sign. From the third run on, a run is stored as its
difference from the run two places before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RleStats", "rle_string_counts", "rle_string_stats"]

_MAX_CHARS = 7  # 35 bits: more than any uint32 run needs


@dataclass
class RleStats:
    """Per mask: ``ok`` (bool), ``total`` (sum of its runs) and ``area`` (foreground pixels,
    the runs at odd places), int64; ``total`` and ``area`` mean nothing where not ``ok``."""

    ok: np.ndarray
    total: np.ndarray
    area: np.ndarray


def rle_string_counts(
    buffer: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The runs of the strings ``buffer[starts[i]:starts[i + 1]]`` (uint8, int64 [R + 1]):
    ``(runs int64 [T], owner int64 [T] (each run's string), place int64 [T] (its place in
    its string), ok bool [R])``. A string is not ``ok`` if it has a character outside
    ``'0'..'o'``, ends inside a run, has a run longer than 7 characters, or a run that is negative or past uint32."""
    starts = np.asarray(starts, np.int64)
    num = len(starts) - 1
    ok = np.ones(num, bool)
    empty = np.zeros(0, np.int64)
    if not len(buffer):
        return empty, empty, empty, ok
    value = np.asarray(buffer, np.int64) - 48
    owner_of_char = np.repeat(np.arange(num, dtype=np.int64), np.diff(starts))
    bad_char = (value < 0) | (value > 63)
    value = np.where(bad_char, 0, value)
    more = (value & 0x20) != 0
    last_char = np.zeros(len(value), bool)
    ends_of_strings = starts[1:][np.diff(starts) > 0] - 1
    last_char[ends_of_strings] = True
    # a run ends where no character follows, and always at the end of its string
    ends = ~more | last_char
    ok[owner_of_char[bad_char | (more & last_char)]] = False
    run_of_char = np.cumsum(ends) - ends
    run_end = np.flatnonzero(ends)
    run_start = np.concatenate([[0], run_end[:-1] + 1])
    shift = np.arange(len(value), dtype=np.int64) - run_start[run_of_char]
    too_long = shift >= _MAX_CHARS
    ok[owner_of_char[too_long]] = False
    shift = np.minimum(shift, _MAX_CHARS - 1)
    runs = np.add.reduceat((value & 0x1F) << (5 * shift), run_start)
    negative = (value[run_end] & 0x10) != 0
    runs = runs - np.where(negative, np.left_shift(1, 5 * (shift[run_end] + 1)), 0)

    owner = owner_of_char[run_end]
    first_run = np.searchsorted(owner, np.arange(num), side="left")
    place = np.arange(len(runs), dtype=np.int64) - first_run[owner]
    # from the third run on, each adds the run two places before it: a running sum over
    # the odd places and one over the even places from 2 (place 0 stands alone)
    group = np.where(place == 0, 0, np.where(place % 2 == 1, 1, 2))
    order = np.lexsort((place, group, owner))
    summed = np.cumsum(runs[order])
    key = owner[order] * 3 + group[order]
    new_group = np.concatenate([[True], key[1:] != key[:-1]])
    group_first = np.flatnonzero(new_group)
    before = (summed - runs[order])[group_first]
    counts = np.empty_like(runs)
    counts[order] = summed - np.repeat(before, np.diff(np.append(group_first, len(order))))
    ok[owner[(counts < 0) | (counts > 0xFFFFFFFF)]] = False  # pycocotools keeps uint32
    return counts, owner, place, ok


def rle_string_stats(buffer: np.ndarray, starts: np.ndarray) -> RleStats:
    """:class:`RleStats` of the strings packed in ``buffer`` at ``starts`` (int64 [R + 1])."""
    counts, owner, place, ok = rle_string_counts(buffer, starts)
    num = len(starts) - 1
    odd = place % 2 == 1
    # float64 sums are exact here: a well-formed mask has fewer than 2**53 pixels
    total = np.bincount(owner, weights=counts, minlength=num)
    area = np.bincount(owner[odd], weights=counts[odd], minlength=num)
    return RleStats(ok=ok, total=total.astype(np.int64), area=area.astype(np.int64))
