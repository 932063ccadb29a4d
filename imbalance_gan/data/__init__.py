"""The imbalanced dataset: raw loading, pure index selection, the split and each model's data."""

from imbalance_gan.data.datamodule import BatchPolicy, ModelData, build_data, split_from_config
from imbalance_gan.data.imbalance import (
    resolve_class_counts,
    select_imbalanced,
    stratified_split,
)
from imbalance_gan.data.loader import TensorLoader
from imbalance_gan.data.rare import cuts_nothing
from imbalance_gan.data.sources import IDXSource, load_split
from imbalance_gan.data.split import (
    ImbalancedData,
    Split,
    build_split,
    to_uint8,
    to_unit_range,
)
from imbalance_gan.data.training import TrainingSet

__all__ = [
    "BatchPolicy",
    "IDXSource",
    "ImbalancedData",
    "ModelData",
    "Split",
    "TensorLoader",
    "TrainingSet",
    "build_data",
    "build_split",
    "cuts_nothing",
    "load_split",
    "resolve_class_counts",
    "select_imbalanced",
    "split_from_config",
    "stratified_split",
    "to_uint8",
    "to_unit_range",
]
