"""The config resolvers the ``conf/`` files use, registered when the package is imported:
``${folder_classes:<path>}`` and ``${folder_shape:<path>,<axis>}``, an image folder's class
count and one side of its first image's shape, read from the image's header alone
(``conf/data/folder.yaml``), so that one override names the data."""

from __future__ import annotations

from omegaconf import OmegaConf


def _folder_classes(path: str) -> int:
    from imbalance_gan.data.folder import class_count

    return class_count(path)


def _folder_shape(path: str | None, axis: int) -> int | None:
    """One side of the first image's shape, from its header; None for no folder (``data.path``
    unset: the keys that need the folder say so, and the override check composes the defaults
    without it, so an explicit ``data.image_shape`` must not need one)."""
    from imbalance_gan.data.folder import first_image_shape

    return None if path is None else first_image_shape(path)[int(axis)]


def register() -> None:
    """Register every resolver once (a second call changes nothing)."""
    for name, fn in (("folder_classes", _folder_classes), ("folder_shape", _folder_shape)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=True)
