"""``required_plugins:`` in a config: fail early, with the pip command to run."""

from __future__ import annotations

import re
from collections.abc import Mapping

from packaging.requirements import InvalidRequirement, Requirement

from detplug_core.errors import PluginError

_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def check_required_plugins(cfg: Mapping) -> None:
    """Raise PluginError unless every ``required_plugins`` entry is installed and loaded."""
    import importlib_metadata

    from detplug_core.plugins.loader import ensure_loaded, normalize

    wanted = cfg.get("required_plugins") or []
    if isinstance(wanted, str):
        wanted = [wanted]
    records = {normalize(r.distribution): r for r in ensure_loaded()}
    for spec in wanted:
        try:
            req = Requirement(str(spec))
        except InvalidRequirement as err:
            raise PluginError(f"required_plugins: invalid requirement {spec!r}: {err}") from None
        try:
            version = importlib_metadata.version(req.name)
        except importlib_metadata.PackageNotFoundError:
            raise PluginError(
                f"this config requires {spec}, which is not installed; run: pip install '{spec}'"
                + extras_hint(req.name)
            ) from None
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            raise PluginError(
                f"this config requires {spec}, but {req.name} {version} is installed; "
                f"run: pip install '{spec}'"
            )
        record = records.get(normalize(req.name))
        if record is not None and record.status != "loaded":
            why = record.error or record.status
            raise PluginError(f"this config requires {spec}, installed but not loaded: {why}")


def extras_hint(name: str) -> str:
    """`` (or: pip install 'detplug-fcos[shapes]')`` when an installed plugin has an extra
    that brings ``name``: the extras of a detector plugin carry what its recipes need."""
    import importlib_metadata

    from detplug_core.plugins.loader import discover, normalize

    offers = []
    for record in discover():
        try:
            requires = importlib_metadata.requires(record.distribution) or []
        except importlib_metadata.PackageNotFoundError:
            continue
        for line in requires:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            extra = _extra_of(req)
            if extra and extra != "test" and normalize(req.name) == normalize(name):
                offers.append(f"{record.distribution}[{extra}]")
    if not offers:
        return ""
    return " (or the extra that brings it: " + ", ".join(f"pip install '{o}'" for o in offers) + ")"


def _extra_of(req: Requirement) -> str | None:
    """The extra a requirement belongs to (``extra == "shapes"`` in its marker), if any."""
    match = _EXTRA.search(str(req.marker)) if req.marker is not None else None
    return match.group(1) if match else None
