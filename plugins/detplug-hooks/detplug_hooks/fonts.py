"""Fonts for class names in any script: the pictures (previews, ``data show``) and
``labels.png`` draw each character with the first font that has it.

The fonts, in order: Noto Sans, Noto Sans CJK and Noto Emoji when the extra
``detplug-hooks[fonts]`` is installed (the ``manimgx-fonts`` and ``manimgx-fonts-cjk``
packages: Noto as Google publishes it, SIL OFL), then matplotlib's DejaVu Sans (always
there). A character that none of them has is written as its code (``猫`` -> ``<U+732B>``)
instead of an empty box, so a name stays tellable apart, and no missing-glyph warning is
raised.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, replace
from functools import lru_cache

__all__ = ["FontFile", "drawable", "font_files", "matplotlib_families", "runs"]

_NOTO = (
    ("manimgx_fonts", "NotoSans[wght].ttf"),
    ("manimgx_fonts_cjk", "NotoSansCJK-VF.otf.ttc"),
    ("manimgx_fonts", "NotoEmoji[wght].ttf"),
)


@dataclass(frozen=True, eq=False)
class FontFile:
    """A font file, its family name (for matplotlib) and the code points it covers."""

    path: str
    family: str
    codepoints: frozenset[int]


def _package_file(package: str, name: str) -> str | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), name)
    return path if os.path.isfile(path) else None


def _load(path: str) -> FontFile:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=0, lazy=True) as font:
        family = font["name"].getBestFamilyName() or os.path.basename(path)
        return FontFile(path, family, frozenset(font.getBestCmap() or {}))


@lru_cache(maxsize=1)
def font_files() -> tuple[FontFile, ...]:
    """The fonts in the order characters are looked up (read once per process)."""
    import matplotlib

    paths = [_package_file(package, name) for package, name in _NOTO]
    dejavu = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
    return tuple(_load(p) for p in [*paths, dejavu] if p is not None)


def _font_of(char: str) -> FontFile | None:
    code = ord(char)
    return next((f for f in font_files() if code in f.codepoints), None)


def drawable(text: str) -> str:
    """``text`` with every character no font has written as ``<U+XXXX>`` (spaces and
    variation selectors, which draw nothing, are kept)."""
    out = []
    for char in text:
        keep = char.isspace() or 0xFE00 <= ord(char) <= 0xFE0F or _font_of(char) is not None
        out.append(char if keep else f"<U+{ord(char):04X}>")
    return "".join(out)


def runs(text: str) -> list[tuple[str, FontFile]]:
    """``drawable(text)`` cut into pieces that one font draws, in order."""
    pieces: list[tuple[str, FontFile]] = []
    for char in drawable(text):
        font = _font_of(char) or (pieces[-1][1] if pieces else font_files()[-1])
        if pieces and pieces[-1][1] is font:
            pieces[-1] = (pieces[-1][0] + char, font)
        else:
            pieces.append((char, font))
    return pieces


def matplotlib_families() -> list[str]:
    """The fonts registered with matplotlib, as a ``font.family`` list (matplotlib falls
    back along it character by character)."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    families = []
    for font in font_files():
        if not any(entry.fname == font.path for entry in manager.ttflist):
            known = len(manager.ttflist)
            manager.addfont(font.path)  # a collection (.ttc) adds each of its faces
            # a variable font registers with its first instance's weight (Noto Sans CJK:
            # 100); as the family's only face it is the normal weight
            manager.ttflist[known:] = [replace(e, weight=400) for e in manager.ttflist[known:]]
        families.append(font_manager.FontProperties(fname=font.path).get_name())
    return list(dict.fromkeys(families))
