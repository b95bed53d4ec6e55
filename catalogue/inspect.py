"""Checks a file is an image we can keep, before anything is stored. No Django imports.

The check is cheap (header, Pillow's verify, and a reduced decode for JPEG) so a folder of a
hundred thousand scans imports at disk speed; the full decode happens once, in fingerprinting.
"""

import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from dedup.signals import icc_description

from .jpegscan import jpeg_problem

# Pillow's own bomb check is replaced by ours, which names the limit and the setting.
Image.MAX_IMAGE_PIXELS = None

# Formats an archive sends us. Anything else Pillow can open (e.g. an icon, a PDF page) is refused.
ACCEPTED_FORMATS = {"JPEG", "PNG", "TIFF", "GIF", "BMP", "WEBP", "JPEG2000", "MPO"}
# Formats whose truncation only a full decode reveals; decoding reduced (draft) keeps it cheap.
_DRAFTABLE = {"JPEG", "MPO"}
# Smaller non-JPEG images are decoded in full at import, so truncation is reported at once.
_FULL_DECODE_PIXELS = 40_000_000


class RejectedFile(Exception):
    """A file we will not store; the message says why, in words an administrator can act on."""


@dataclass
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str
    icc_profile: str


def inspect_image(fileobj, max_pixels):
    """Return ImageInfo for an acceptable image, or raise RejectedFile with the reason."""
    fileobj.seek(0, 2)
    if fileobj.tell() == 0:
        raise RejectedFile("empty file (0 bytes)")
    fileobj.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(fileobj)
        except UnidentifiedImageError:
            raise RejectedFile("not an image (no known image format recognised)")
        except (OSError, ValueError, SyntaxError) as exc:
            raise RejectedFile(f"unreadable image header: {exc}")
        with image:
            icc = icc_description(image.info.get("icc_profile"))[:300]
            info = ImageInfo(image.format or "", image.width, image.height, image.mode, icc)
            _check(image, info, max_pixels)
            try:
                image.verify()
            except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds here; all mean "corrupt"
                raise RejectedFile(f"corrupt {info.format} image: {exc or type(exc).__name__}")
        _check_decodes(fileobj, info)
    fileobj.seek(0)
    return info


def _check(image, info, max_pixels):
    if info.format not in ACCEPTED_FORMATS:
        raise RejectedFile(f"unsupported format {info.format or 'unknown'}")
    if info.width < 1 or info.height < 1:
        raise RejectedFile("image has no pixels")
    pixels = info.width * info.height
    if pixels > max_pixels:
        raise RejectedFile(
            f"image is {info.width}×{info.height} = {pixels / 1e6:.3g} megapixels, above the limit of "
            f"{max_pixels / 1e6:.3g} megapixels (MASTERCOPY_MAX_PIXELS): refused as a possible "
            "decompression bomb"
        )


def _check_decodes(fileobj, info):
    """verify() reads no pixel data for JPEG and TIFF; decode (cheaply) to catch truncation. A JPEG whose
    markers read through to its end is not decoded (jpegscan: 0.25 ms against 7-10 ms); one that does not
    is, and libjpeg's verdict decides."""
    if info.format not in _DRAFTABLE and info.width * info.height > _FULL_DECODE_PIXELS:
        return
    if info.format in _DRAFTABLE and jpeg_problem(fileobj) is None:
        return
    fileobj.seek(0)
    try:
        with Image.open(fileobj) as image:
            if info.format in _DRAFTABLE:
                image.draft("RGB", (256, 256))
            image.load()
    except Exception as exc:  # noqa: BLE001
        message = str(exc) or type(exc).__name__
        if "truncated" in message:
            raise RejectedFile(f"truncated {info.format} file: the image data ends early")
        raise RejectedFile(f"corrupt {info.format} image: {message}")
