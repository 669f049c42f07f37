"""``required_plugins:`` in a config: fail early, with the pip command to run."""

from __future__ import annotations

from collections.abc import Mapping

from packaging.requirements import InvalidRequirement, Requirement

from detplug_core.errors import PluginError


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
