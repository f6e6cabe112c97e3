"""Load and describe a model: ``exbert.load(name_or_path) -> Model``."""

from exbert.info import Kind, ModelInfo
from exbert.models.loading import load, resolve
from exbert.models.model import Model
from exbert.models.registry import SHIPPED, ShippedModel

__all__ = ["SHIPPED", "Kind", "Model", "ModelInfo", "ShippedModel", "load", "resolve"]
