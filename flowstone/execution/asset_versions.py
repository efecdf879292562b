"""The versions a run materializes its assets with: code versions and validated configs.

Config values come from the caller (``config={"asset": {...}}`` or ``--config FILE``) and are
validated against each asset's pydantic model before anything runs; the canonical JSON of the
validated values is what the provenance version includes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from flowstone.errors import ConfigError
from flowstone.graph import AssetGraph
from flowstone.graph.asset_graph import did_you_mean
from flowstone.keys import AssetKey
from flowstone.storage import BreakdownEntry, CodeKey
from flowstone.versioning import compute_config_hash
from flowstone.versioning.code_version import code_version_and_breakdown

ConfigValues = Mapping[str, Mapping[str, Any]]
"""Config values by asset key text (``"orders"`` or ``"raw/orders"``)."""


@dataclass(frozen=True, slots=True)
class AssetVersions:
    """Per asset: its code version, the hash of its config, the validated config, and what its
    code version was made of (see ``code_version_and_breakdown``)."""

    code: Mapping[AssetKey, str] = field(default_factory=dict)
    config_hash: Mapping[AssetKey, str | None] = field(default_factory=dict)
    config: Mapping[AssetKey, BaseModel] = field(default_factory=dict)
    breakdown: Mapping[AssetKey, tuple[BreakdownEntry, ...]] = field(default_factory=dict)

    @property
    def code_breakdowns(self) -> dict[CodeKey, tuple[BreakdownEntry, ...]]:
        """Each asset's breakdown under its (asset, code version), as the store keeps them."""
        return {(key, self.code[key]): parts for key, parts in self.breakdown.items()}


def resolve_asset_versions(
    graph: AssetGraph, assets: Iterable[AssetKey], config: ConfigValues | None = None
) -> AssetVersions:
    """Code versions and validated configs of ``assets``.

    Raises:
        ConfigError: config names an unknown asset or one without a ``config`` parameter, or
            a value does not validate (the message names the asset and the field).
    """
    keys = list(dict.fromkeys(assets))
    given = _by_asset(graph, config or {})
    code: dict[AssetKey, str] = {}
    hashes: dict[AssetKey, str | None] = {}
    models: dict[AssetKey, BaseModel] = {}
    parts: dict[AssetKey, tuple[BreakdownEntry, ...]] = {}
    for key in keys:
        definition = graph.get(key)
        code[key], parts[key] = code_version_and_breakdown(definition.fn, definition.code_version)
        if definition.config_model is None:
            hashes[key] = None
            continue
        models[key] = _validate(key, definition.config_model, given.get(key, {}))
        hashes[key] = compute_config_hash(models[key].model_dump(mode="json"))
    return AssetVersions(code, hashes, models, parts)


def _by_asset(graph: AssetGraph, config: ConfigValues) -> dict[AssetKey, Mapping[str, Any]]:
    known = {str(key): key for key in graph.keys()}
    by_asset: dict[AssetKey, Mapping[str, Any]] = {}
    for name, values in config.items():
        key = known.get(name) or next((k for k in graph.keys() if k.name == name), None)
        if key is None:
            raise ConfigError(
                f"Config is given for {name!r}, which is not an asset.{did_you_mean(name, known)}"
                f" Use the asset's key as the config's top-level name."
            )
        if graph.get(key).config_model is None:
            raise ConfigError(
                f"Config is given for asset {name!r}, which takes no config. Add a parameter "
                f"`config: SomeModel` to it, or remove {name!r} from the config."
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"Config for asset {name!r} must be a mapping of field to value.")
        by_asset[key] = values
    return by_asset


def _validate(key: AssetKey, model: type[BaseModel], values: Mapping[str, Any]) -> BaseModel:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(
            f"Invalid config for asset {str(key)!r} ({model.__name__}): {problems}. Fix the "
            f"values given with config= or --config."
        ) from exc
