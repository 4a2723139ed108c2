"""Variants: named switch sets over a model's config. Ablations are variants, not copies of models."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig
from benchmark.registry import MODELS, VARIANTS


@dataclass(frozen=True)
class Variant:
    model: str
    name: str
    label: str  # how a table row names it, e.g. "w/o ITM"
    overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    deviations: tuple[Any, ...] = ()  # benchmark.deviations.Deviation beyond the model's own

    @property
    def key(self) -> str:
        return f"{self.model}:{self.name}"


def register_variant(model: str, name: str, label: str, overrides: dict[str, Any] | None = None,
                     description: str = "", deviations: tuple[Any, ...] = ()) -> Variant:
    variant = Variant(model=model, name=name, label=label, overrides=dict(overrides or {}),
                      description=description, deviations=tuple(deviations))
    VARIANTS.register(variant.key, variant)
    return variant


def get_variant(model: str, name: str = "default") -> Variant:
    key = f"{model}:{name}"
    if name == "default" and key not in VARIANTS:
        return Variant(model=model, name="default", label=model, overrides={}, description="paper defaults")
    return VARIANTS.get(key)


def resolve_config(model_name: str, variant: str = "default", overrides: dict[str, Any] | None = None,
                   ) -> ModelConfig:
    """Paper defaults < variant switches < explicit overrides (CLI, sweep). Unknown keys are an error."""
    model_cls: type[DetectorModel] = MODELS.get(model_name)
    config_cls = model_cls.config_class
    values: dict[str, Any] = {}
    for source_name, source in (("variant " + variant, get_variant(model_name, variant).overrides),
                                ("overrides", overrides or {})):
        unknown = set(source) - config_cls.field_names()
        if unknown:
            raise ValueError(
                f"{source_name} of model {model_name!r} sets unknown config keys {sorted(unknown)}; "
                f"valid keys: {sorted(config_cls.field_names())}")
        values.update(source)
    return dataclasses.replace(config_cls(), **values)


def build_model(model_name: str, config: ModelConfig, dims: FeatureDims) -> DetectorModel:
    model_cls: type[DetectorModel] = MODELS.get(model_name)
    return model_cls(config, dims)
