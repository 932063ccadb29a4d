"""One image file, read within limits: its header first (size, pixel mode, frames), then its
pixels, by Pillow. Pillow raises on a file its header does not match (a short IDAT, a bad
chunk), where torchvision's decoder crashed the process; and a header alone is enough to
refuse an image too large to decode (a few MB of PNG can declare 50,000 x 50,000 pixels).

An image is read as grey (1 channel) or colour (3); an alpha channel is dropped, a palette
expanded, and 16-bit grey scaled to 8 bits (``value * 255 / 65535``, rounded), never cut."""

from __future__ import annotations

import contextlib
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from imbalance_gan.runtime.errors import UserError

#: the pixels one image may have (``data.source.max_pixels``'s default, 4096 x 4096): what one
#: decode may take, at most 4 bytes per pixel of each channel, is then 256 MiB
DEFAULT_MAX_PIXELS = 4096 * 4096
#: Pillow modes read as grey (1 channel as stored) and as colour (3); any other is refused
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N"})
COLOUR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"})
#: grey modes of more than 8 bits (16-bit PNGs and TIFFs): values 0 .. 65535, scaled to 0 .. 255
WIDE_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
#: the formats Pillow may take a file for, whatever its name: the image folder's extensions
#: (JPEG opens a camera's MPO too) and GIF, which torchvision read; never EPS (Pillow runs
#: Ghostscript on it) or any other of the dozens Pillow knows
FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM", "GIF")
WIDE_MAX = 65535
#: samples per pixel of each PNG colour type: grey, RGB, palette, grey + alpha, RGBA
PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: the seven passes of an interlaced PNG: first column, first row, column step, row step
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
#: what one read or one inflate step of a PNG's image data takes at most
CHUNK = 1 << 20


@contextlib.contextmanager
def opened(path: Path) -> Iterator:
    """The image at ``path`` opened lazily (header read, no pixel decoded), closed after; a
    file of none of :data:`FORMATS`, or whose header declares more pixels than Pillow will
    ever decode (``PIL.Image.MAX_IMAGE_PIXELS`` x 2), names itself."""
    from PIL import Image

    try:
        with warnings.catch_warnings():  # our own limit, max_pixels, decides below Pillow's
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=FORMATS)
    except Image.DecompressionBombError as err:
        raise UserError(f"{path} is refused from its header, nothing decoded: {err}") from None
    except Exception as err:  # UnidentifiedImageError, OSError, SyntaxError, ValueError, ...
        raise UserError(f"{path} cannot be decoded as an image ({_why(err)})") from None
    with image:
        yield image


def _why(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def checked_shape(image, path: Path, max_pixels: int | None) -> list[int]:
    """``[C, H, W]`` as stored (C: 1 grey, 3 colour) from an opened image's header; refuses
    more than ``max_pixels`` pixels (None: no limit), an unsupported mode, several frames."""
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        raise UserError(
            f"{path} is {height} x {width} ({width * height:,} pixels), more than "
            f"data.source.max_pixels={max_pixels:,}; nothing was decoded (shrink the image, or "
            "raise the limit if the machine has the memory)"
        )
    if image.mode not in GREY_MODES | COLOUR_MODES:
        raise UserError(
            f"{path} has pixel mode {image.mode!r}, which an image folder does not read (grey, "
            "16-bit grey, RGB, palette or CMYK, with or without alpha); convert it"
        )
    # a camera's MPO is a JPEG with a preview behind it: its first frame is the photo
    if getattr(image, "is_animated", False) and image.format != "MPO":
        raise UserError(
            f"{path} holds more than one frame (an animation or a multi-page file); an image "
            "folder reads still images: keep one frame"
        )
    return [1 if image.mode in GREY_MODES else 3, height, width]


def read_shape(path: Path, max_pixels: int | None = None) -> list[int]:
    """``[C, H, W]`` of one image file as stored, from its header alone (see :func:`checked_shape`)."""
    with opened(path) as image:
        return checked_shape(image, path, max_pixels)


def decode(
    path: Path, channels: int | None, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> torch.Tensor:
    """One image file as uint8 ``[C, H, W]``: ``channels`` 1 (grey) or 3 (colour), or as stored
    when None; its header is checked first (:func:`checked_shape`), a file that does not decode
    names itself."""
    if channels not in (1, 3, None):
        raise UserError(f"data.image_shape has {channels} channels; an image folder gives 1 or 3")
    with opened(path) as image:
        stored = checked_shape(image, path, max_pixels)[0]
        if image.format == "PNG":
            check_png_data(path)
        try:
            image.load()
            pixels = _pixels(image, channels or stored, path)
        except UserError:
            raise
        except Exception as err:  # a truncated file, a bad chunk, a broken stream
            raise UserError(f"{path} cannot be decoded as an image ({_why(err)})") from None
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def _pixels(image, channels: int, path: Path) -> np.ndarray:
    """A loaded image as uint8 ``[H, W, channels]``."""
    if image.mode in WIDE_MODES:
        grey = _to_8_bits(np.asarray(image), path)
        return np.repeat(grey[:, :, None], channels, axis=2)
    array = np.array(image.convert("L" if channels == 1 else "RGB"))
    return array.reshape(*array.shape[:2], channels)


def _to_8_bits(values: np.ndarray, path: Path) -> np.ndarray:
    """16-bit grey values scaled to 0 .. 255 and rounded (Pillow's own conversion clips at 255,
    torchvision kept the low byte); a 32-bit image beyond 16 bits is refused."""
    wide = values.astype(np.int64)
    if wide.size and (wide.min() < 0 or wide.max() > WIDE_MAX):
        raise UserError(
            f"{path} holds grey values from {wide.min()} to {wide.max()}; an image folder reads "
            f"8- or 16-bit values (0 .. {WIDE_MAX}); convert it"
        )
    return ((wide * 255 + WIDE_MAX // 2) // WIDE_MAX).astype(np.uint8)


def png_data_size(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """The bytes a PNG's image data inflates to: per row a filter byte and its packed samples,
    for each Adam7 pass that has pixels when ``interlaced``."""
    bits = depth * PNG_SAMPLES[colour]
    total = 0
    for x0, y0, dx, dy in ADAM7 if interlaced else ((0, 0, 1, 1),):
        w, h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if w > 0 and h > 0:
            total += h * (1 + (w * bits + 7) // 8)
    return total


def check_png_data(path: Path) -> None:
    """Refuse a PNG whose image data ends before its header's rows do. Pillow decodes one whose
    compressed stream ends early as zeros and says nothing (libpng: "Not enough image data"),
    and torchvision's decoder crashed on it; the data is inflated here in steps of
    :data:`CHUNK`, never more than the header promises."""
    with open(path, "rb") as f:
        head = f.read(33)
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
        if colour not in PNG_SAMPLES:
            return  # Pillow refused its header already
        want = png_data_size(width, height, depth, colour, bool(interlace))
        got = _inflated_idat(f, want, path)
    if got < want:
        raise UserError(
            f"{path} cannot be decoded as an image: its image data holds {got:,} of the "
            f"{want:,} bytes its header promises (a truncated or corrupt file)"
        )


def _inflated_idat(f, want: int, path: Path) -> int:
    """How many bytes (at most ``want``) the IDAT chunks after ``f``'s position inflate to."""
    inflate, got = zlib.decompressobj(), 0
    while got < want:
        top = f.read(8)
        if len(top) < 8:
            break
        length, kind = struct.unpack(">I4s", top)
        if kind == b"IEND":
            break
        left = length if kind == b"IDAT" else 0
        while left and got < want:
            data = f.read(min(left, CHUNK))
            if not data:
                return got
            left -= len(data)
            while data and got < want:
                try:
                    got += len(inflate.decompress(data, min(want - got, CHUNK)))
                except zlib.error as err:
                    raise UserError(f"{path} cannot be decoded as an image ({err})") from None
                data = inflate.unconsumed_tail
        f.seek(left + 4 if kind == b"IDAT" else length + 4, 1)  # the rest, then the CRC
    return got
