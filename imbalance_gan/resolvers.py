"""The config resolvers the ``conf/`` files use, registered when the package is imported:
``${folder_classes:<path>}`` and ``${folder_shape:<path>,<axis>}``, an image folder's class
count and one side of its first image's shape, read from the image's header alone
(``conf/data/folder.yaml``), so that one override names the data."""

from __future__ import annotations

from omegaconf import OmegaConf


def _folder_classes(path: str) -> int:
    from imbalance_gan.data.folder import class_count

    return class_count(path)


def _folder_shape(path: str, axis: int) -> int:
    """One side of the first image's shape, from its header."""
    from imbalance_gan.data.folder import first_image_shape

    return first_image_shape(path)[int(axis)]


def register() -> None:
    """Register every resolver once (a second call changes nothing)."""
    for name, fn in (("folder_classes", _folder_classes), ("folder_shape", _folder_shape)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=True)
