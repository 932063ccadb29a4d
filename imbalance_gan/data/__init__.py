"""The imbalanced dataset: raw loading, pure index selection, and one LightningDataModule."""

from imbalance_gan.data.datamodule import (
    ImbalancedDataModule,
    build_datamodule,
    datamodule_from_config,
)
from imbalance_gan.data.imbalance import (
    resolve_class_counts,
    select_imbalanced,
    stratified_split,
)
from imbalance_gan.data.loader import TensorLoader
from imbalance_gan.data.sources import IDXSource, load_split

__all__ = [
    "IDXSource",
    "ImbalancedDataModule",
    "build_datamodule",
    "datamodule_from_config",
    "TensorLoader",
    "load_split",
    "resolve_class_counts",
    "select_imbalanced",
    "stratified_split",
]
