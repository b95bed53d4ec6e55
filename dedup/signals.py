"""Image-signal core: one decode per image -> metadata, perceptual hashes, preview and thumbnail.

Plain Python (no Django). The task layer calls :func:`compute_signals` once per file and
:func:`pixel_digest` only for candidate pairs (see "Exact pixel digest" below).

Decoding
    JPEGs are decoded with Pillow's ``draft()`` (libjpeg DCT scaling 1/2, 1/4, 1/8). Without derivatives we
    draft like the bench floor (both sides >= 256 px). With derivatives we draft to the smallest scale whose
    long side is >= ``PREVIEW_DRAFT_FRACTION * preview_px`` (0.8 -> 1280 px for the default 1600), so a
    2,600 px scan decodes at 1/2 and gets a 1,300 px preview instead of paying a full-size decode (the
    measured trade-off is in the bench docstring). An upright 8-bit JPEG no larger than a preview (long side
    <= 2,000 px) is its own preview, its segments copied without the metadata (_preview_copy), and is decoded
    at the hashes' scale instead (1/4 for a 2,000 x 1,333 photo: 9 ms against 16 ms, no 3 ms box reduction
    and no 7 ms preview encode); a larger draft is shrunk to the preview by libvips (_fit). Huge
    uncompressed TIFFs are decoded in row chunks and
    box-reduced on the fly, so memory stays bounded (see :func:`_load_reduced`).
    EXIF orientation is applied to the decoded image; 16-bit, CMYK (ICC -> sRGB), palette, alpha (composited
    on white), 1-bit and multi-frame (first frame) inputs are normalised to 8-bit ``RGB`` or ``L`` and each
    conversion is recorded in ``Signals.notes``.

Hashes
    ``phash``/``dhash`` are bit-identical to ``imagehash.phash``/``imagehash.dhash`` applied to the
    normalised, oriented, decoded image, box-reduced by a power of two to a short side of 256-511 px
    (:func:`decode_for_hashing` returns exactly that image). Because it comes from the draft-scaled decode,
    hash-only and derivative runs of the same JPEG may differ by a few bits (the draft
    scale differs; a JPEG that is its own preview hashes as in a hash-only run, 0-2 bits from its
    re-encoded derivative run on bench/verify.py's corpus); compare hashes with a Hamming threshold, never
    for equality across modes.
    ``orient_phashes`` are the pHashes of the 8 dihedral orientations (``ORIENTATIONS`` order), derived from
    the upright 32x32 DCT by sign flips and transposes (exact for flips of the DCT; they differ from
    imagehash on the actually transposed image only through Pillow's 8-bit rounding between its two resize
    passes, measured in tests/test_signals.py). ``crop_hashes`` are pHash-style codes of sub-regions
    (``CROP_REGIONS``), ``colorhash`` is ``imagehash.colorhash`` (binbits=3) of a 64x64 box-reduced copy.

Signal choices (measured on 300 of the shared photos: 32 video frames, 50 UKBench groups, 68 singletons;
variants generated from each; "recall" = variant within Hamming <= 10 of its original by the best code pair;
"false" = pairs of different originals within <= 10; plain pHash: same-group 11.2%, different 0/44,438)
    orientation  8 dihedral pHashes: recall 100% for rot90/180/270 and mirror (plain pHash 0%), no extra
                 false matches (same-group 11.2%, different 0). Exact and nearly free (DCT sign flips).
    border       trimmed pHash: recall 98% (5-10% white) / 100% (black) vs 8% / 5% for plain pHash, no
                 extra false matches; a "border" is found on 27% of plain photos (flat sky/backdrops): an
                 extra code, included in the figures above.
    crop         57 region codes (CROP_REGIONS): a 5x5 grid of each of two ~71%-area window shapes (0.80x0.89,
                 0.88x0.807 of the sides; codes from the DCT averaged over window edges +-1.5%), the top
                 89.5/91/92.5% (caption strips), 4 central windows (skewed scans). Computed as two batched
                 matrix products on a 128x128 copy (precomputed box-resample+DCT operators), ~0.5 ms/image, no
                 measurable change of the bench (a) rate. Measured on 150 photos (105 mixed sources, 45
                 UKBench/video frames), candidate = search.py's rules, crop radius 8 (previous 10-code
                 design in brackets): crops keeping 70-72% of the area at a random position 97% (24%),
                 other areas 75/80/85/90% -> 99/89/87/95% (25/35/43/82%); caption-strip 100% (49%);
                 1-2 deg skew 99% (79%), 99.3% on 450 more skews; resized/recompressed/colour-changed/
                 greyscale/bordered 100% (100%). False candidates through region codes among 300 photos
                 (all 32 video frames, 40 whole UKBench groups): different groups 0/44,498 (0), same
                 group 2/352 (0). bench/accuracy.py --originals 30 --distractors 80: all goals met, cropped
                 96.7%, skewed/caption-strip 100%, review precision 100%.
                 Shift tolerance of a hard window: ~4 bits at 1% of a side, 6 at 2%, 10 at 3% (median).
                 Codes (almost always) have 32 set bits, so distances are even: radius 7 = 6 (crops 87%).
                 imagehash.crop_resistant_hash was not adopted (slow segmentation per image; not measured).

Memory (bench/memory.py: peak RSS of a fresh process, at the 400 MP pixel limit unless said)
    Every decode is bounded. JPEGs decode at their draft scale. Above REDUCE_ABOVE_PIXELS, uncompressed
    strip TIFFs decode in 64 MB row chunks; PNG and compressed/tiled TIFF stream through libvips (pyvips,
    sequential access: a few rows in memory) and are box-shrunk while read; WebP is decoded by libwebp
    at the reduced scale; palette/1-bit images (GIF, BMP) decode whole at 1 byte a pixel and convert band
    by band. Whatever must still decode whole (interlaced PNG, a huge WebP's pixel digest, JPEG 2000,
    BMP) is measured first and refused above max_decode_bytes (MASTERCOPY_DECODE_MAX_BYTES, 768 MB) with
    a message naming it. pixel_digest streams PNG/TIFF/JPEG through libvips (bytes identical to Pillow's,
    tests/test_security_uploads.py) and hashes whole decodes band by band (no full-size copy).
    compute_signals / pixel_digest peak MB: JPEG RGB 123 / 299, PNG RGB 153 / 263, PNG RGBA 180 / 343
    (was 3,119 MB: finding 12), PNG 16-bit RGB 228 / 324, PNG palette 152 / 227, TIFF LZW 156 / 224,
    TIFF tiled deflate 141 / 170, TIFF uncompressed 347 / 303, TIFF 16-bit grey 409 / 273, WebP RGBA
    16383x16383 210 / refused, GIF 617 / 612, interlaced PNG refused (71). Decoded whole: a 40 MP RGBA
    PNG 414 / 415, the largest interlaced RGBA PNG under the ceiling (9565x9565) 776 / 612.

Exact pixel digest: lazy
    Computing the full-resolution digest inside compute_signals would force a full-size decode of every JPEG
    (no draft). Same run on the bench corpus (4.5 MP JPEGs): pixel_digest alone 18-27 img/s, compute_signals
    (derivatives=False) 30-48 img/s, the draft floor 70-130 img/s (shared machine: ranges over runs). An
    eager digest would at least halve throughput for a value needed only by pairs whose size and hashes
    already agree (a tiny fraction). So ``want_pixel_digest`` defaults to False and the task layer calls
    pixel_digest() only for such candidates.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import imagehash
import numpy as np
import scipy.fftpack
from PIL import Image, ImageCms, UnidentifiedImageError

try:  # libvips (pyvips-binary ships it): shrinks huge PNG/TIFF/WebP while streaming them
    import pyvips
except (ImportError, OSError):  # without it, a huge image that must decode whole is refused (see Memory)
    pyvips = None

__all__ = [
    "CROP_REGIONS",
    "ORIENTATIONS",
    "ImageDecodeError",
    "Signals",
    "compute_signals",
    "decode_for_hashing",
    "hamming",
    "pixel_digest",
]

MAX_PIXELS = 1_000_000_000  # archive scans legitimately exceed Pillow's 89 MP bomb limit
HASH_MIN_SIDE = 256  # draft target without derivatives: same as the bench floor draft("RGB", (256, 256))
PREVIEW_DRAFT_FRACTION = 0.8
CHUNK_BYTES = 64 * 1024 * 1024  # decoded bytes per row chunk for huge strip TIFFs
REDUCE_ABOVE_PIXELS = 40_000_000  # above this, non-JPEG images are box-reduced while decoding
# A decode that must hold the whole image in memory is refused above this (callers pass their setting,
# MASTERCOPY_DECODE_MAX_BYTES); streamed and shrink-on-load decodes stay far below it.
MAX_DECODE_BYTES = 768 * 1024 * 1024
INTERLACED_FACTOR = 2.2  # an interlaced PNG's decode peaks at ~2.1x its pixels (bench/memory.py)
# Formats libvips streams top to bottom in a few rows of memory (GIF is not one: its frame buffer is RGBA).
# WebP cannot stream rows, but libwebp decodes straight at a reduced scale, which fingerprints need.
_VIPS_STREAMED = {"PNG", "TIFF", "WEBP"}
# pixel_digest needs every pixel at full size: libvips streams these (JPEG too, with no draft to use).
_VIPS_DIGESTED = {"PNG", "TIFF", "JPEG"}
PREVIEW_QUALITY = 85
THUMB_QUALITY = 80
WHITE = 255

T = Image.Transpose
ORIENTATIONS: tuple[T | None, ...] = (
    None, T.FLIP_LEFT_RIGHT, T.FLIP_TOP_BOTTOM, T.ROTATE_90,
    T.ROTATE_180, T.ROTATE_270, T.TRANSPOSE, T.TRANSVERSE,
)
# EXIF orientation tag -> the transpose that makes the stored pixels upright.
_EXIF_TRANSPOSE = {2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
                   6: T.ROTATE_270, 7: T.TRANSVERSE, 8: T.ROTATE_90}

# Crop-robust region codes: (x0, y0, x1, y1) fractions of the upright image, and a per-region edge blur.
# Measured design (see the module docstring, "crop"):
#   crop grid   windows of two shapes a ~71%-area crop takes near the ends of its aspect range (0.80 x 0.8875
#               and 0.88 x 0.807 of the sides), 5 x 5 positions each (steps 3-5% of a side); each code is
#               made from the DCT averaged over the 3 x 3 window edges +-1.5% (CROP_BLUR), which widens the
#               shift tolerance of a code (a hard window loses ~3 bits per 1% of shift).
#   caption     the top 89.5/91/92.5% (an 8-12% strip added at the bottom is 7.4-10.7% of the copy).
#   skew        central windows 0.93, 0.96, 0.97x0.92, 0.92x0.97 (cut the white wedges of a 1-2 degree crooked
#               scan; the canvas grows more along the short side, hence the oblong windows).
CROP_AREA = 0.71
CROP_SIDES = (0.80, 0.88)
CROP_STEPS = 5
CROP_BLUR = 0.015
CAPTION_KEEP = (0.895, 0.91, 0.925)
SKEW_KEEP = ((0.93, 0.93), (0.96, 0.96), (0.97, 0.92), (0.92, 0.97))  # (width, height) fractions


def _crop_grid() -> list[tuple[float, float, float, float]]:
    out = []
    for w in CROP_SIDES:
        h = min(1.0, CROP_AREA / w)
        for x0 in np.linspace(0.0, 1.0 - w, CROP_STEPS):
            for y0 in np.linspace(0.0, 1.0 - h, CROP_STEPS):
                x, y = float(x0), float(y0)
                out.append((round(x, 4), round(y, 4), round(x + w, 4), round(y + h, 4)))
    return out


_GRID = _crop_grid()
CROP_REGIONS: tuple[tuple[float, float, float, float], ...] = (
    *_GRID,
    *((0.0, 0.0, 1.0, f) for f in CAPTION_KEEP),
    *(((1 - sx) / 2, (1 - sy) / 2, (1 + sx) / 2, (1 + sy) / 2) for sx, sy in SKEW_KEEP),
)
CROP_REGION_BLUR: tuple[float, ...] = (CROP_BLUR,) * len(_GRID) + (0.0,) * (len(CROP_REGIONS) - len(_GRID))


class ImageDecodeError(Exception):
    """Corrupt, truncated, empty or unsupported file; ``str(e)`` is a human-readable message."""


@dataclass
class Signals:
    width: int
    height: int
    format: str
    mode: str
    bit_depth: int
    icc_description: str
    dpi: tuple[float, float] | None
    exif_datetime: str | None
    camera: str | None
    exif_orientation: int
    frames: int
    notes: list[str] = field(default_factory=list)
    phash: int = 0
    dhash: int = 0
    colorhash: str = ""
    orient_phashes: list[int] = field(default_factory=list)
    trim_box: tuple[float, float, float, float] | None = None
    trimmed_phash: int | None = None
    crop_hashes: list[int] = field(default_factory=list)
    pixel_digest: str | None = None
    # Quality facts (quality_facts): lossless, jpeg_quality, sharpness; stored as Fingerprint.quality.
    quality: dict = field(default_factory=dict)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


# --------------------------------------------------------------------------- opening

_OPEN_LOCK = threading.Lock()


def _name(source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return getattr(source, "name", "<stream>")


@contextlib.contextmanager
def _no_bomb_limit() -> Iterator[None]:
    """Lift Pillow's process-global bomb limit around open()/load(); MAX_PIXELS is enforced by _open instead.

    The lock only serialises our own callers (the Celery prefork workers are single-threaded anyway).
    """
    with _OPEN_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(source: str | os.PathLike | BinaryIO) -> Image.Image:
    """Image.open with clear errors and our own pixel limit instead of Pillow's global bomb check."""
    name = _name(source)
    if isinstance(source, str | os.PathLike):
        try:
            if os.path.getsize(source) == 0:
                raise ImageDecodeError(f"{name}: empty file (0 bytes)")
        except OSError as exc:
            raise ImageDecodeError(f"{name}: cannot read file ({exc.strerror or exc})")
    with _no_bomb_limit():
        try:
            im = Image.open(source)
        except UnidentifiedImageError:
            raise ImageDecodeError(f"{name}: not an image, or an image format Pillow cannot read")
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageDecodeError(f"{name}: unreadable image header ({exc})")
    if im.width * im.height > MAX_PIXELS:
        raise ImageDecodeError(f"{name}: {im.width}x{im.height} exceeds the {MAX_PIXELS:,} pixel limit")
    if im.width == 0 or im.height == 0:
        raise ImageDecodeError(f"{name}: image has no pixels ({im.width}x{im.height})")
    return im


def _load(im: Image.Image, name: str) -> None:
    try:
        with _no_bomb_limit():
            im.load()
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        msg = str(exc)
        if "truncated" in msg or isinstance(exc, EOFError):
            raise ImageDecodeError(f"{name}: truncated image data ({msg})")
        raise ImageDecodeError(f"{name}: corrupt image data ({msg})")


# --------------------------------------------------------------------------- metadata

def _rawmode(im: Image.Image) -> str:
    if not im.tile:
        return ""
    args = im.tile[0].args
    return args if isinstance(args, str) else str(args[0]) if args else ""


def _bit_depth(im: Image.Image) -> int:
    if im.mode == "1":
        return 1
    if im.mode.startswith("I;16") or "16" in _rawmode(im):
        return 16
    if im.mode in ("I", "F"):
        return 32
    return 8


def icc_description(icc: bytes | None) -> str:
    """The embedded ICC profile's description ('' without one); import and fingerprinting both use it."""
    if not icc:
        return ""
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except (OSError, ValueError, ImageCms.PyCMSError, TypeError):
        return "(unreadable ICC profile)"


# The IJG (libjpeg) luminance table at quality 50; a file's table sum against this table's scaled sums
# gives the quality setting it was saved with (order-free, so zigzag or natural order both work).
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
             92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)


def _ijg_sum(quality: int) -> int:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return sum(min(255, max(1, (q * scale + 50) // 100)) for q in _IJG_LUMA)


_IJG_SUMS = {q: _ijg_sum(q) for q in range(1, 101)}


def lossless(im: Image.Image, head: bytes = b"") -> bool:
    """Whether the opened image's file is stored without lossy compression (head: its first bytes,
    which tell a lossless WebP from a lossy one)."""
    fmt = (im.format or "").upper()
    if fmt == "WEBP":
        return b"VP8L" in head[:64]
    if fmt == "TIFF":
        return im.info.get("compression") not in ("jpeg", "tiff_jpeg", "webp")
    return fmt in ("PNG", "BMP", "GIF")


def jpeg_quality(quantization) -> int | None:
    """The IJG quality (1-100) whose luminance table is nearest the file's, from Pillow's
    ``im.quantization``; None when there is no table (not a JPEG)."""
    if not quantization:
        return None
    table = quantization.get(0) if isinstance(quantization, dict) else None
    if table is None or len(table) != 64:
        return None
    total = sum(int(v) for v in table)
    return min(_IJG_SUMS, key=lambda q: (abs(_IJG_SUMS[q] - total), -q))


def _clean(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if value is None:
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None


def _exif_fields(im: Image.Image) -> tuple[int, str | None, str | None]:
    if im.format == "PNG" and "exif" not in im.info and im.width * im.height > REDUCE_ABOVE_PIXELS:
        # Pillow's PNG getexif() decodes the whole image to look for an eXIf chunk after the pixels.
        return 1, None, None
    try:
        exif = im.getexif()
        sub = exif.get_ifd(0x8769)
    except Exception:  # noqa: BLE001 - malformed EXIF must never make an image unreadable
        return 1, None, None
    orientation = exif.get(0x0112, 1)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    when = _clean(sub.get(0x9003)) or _clean(exif.get(0x0132))
    make, model = _clean(exif.get(0x010F)), _clean(exif.get(0x0110))
    if make and model and model.lower().startswith(make.lower()):
        make = None  # "Canon Canon EOS 5D" reads badly
    camera = " ".join(p for p in (make, model) if p) or None
    return orientation, when, camera


def _dpi(im: Image.Image) -> tuple[float, float] | None:
    dpi = im.info.get("dpi")
    try:
        return (float(dpi[0]), float(dpi[1])) if dpi else None
    except (TypeError, ValueError, IndexError):
        return None


def _metadata(im: Image.Image) -> Signals:
    bit_depth = _bit_depth(im)  # before getexif(): Pillow's PNG getexif() loads the image and drops .tile
    orientation, when, camera = _exif_fields(im)
    w, h = im.size
    if orientation >= 5:
        w, h = h, w
    tables = getattr(im, "quantization", None) if im.format == "JPEG" else None
    return Signals(
        width=w, height=h, format=im.format or "", mode=im.mode, bit_depth=bit_depth,
        icc_description=icc_description(im.info.get("icc_profile")), dpi=_dpi(im),
        exif_datetime=when, camera=camera, exif_orientation=orientation,
        frames=int(getattr(im, "n_frames", 1) or 1),
        quality={"lossless": lossless(im, _head(im)), "bit_depth": bit_depth,
                 "jpeg_quality": jpeg_quality(tables)},
    )


def _head(im: Image.Image) -> bytes:
    """The first bytes of a WebP file (they tell lossless from lossy); nothing for other formats."""
    if im.format != "WEBP" or getattr(im, "fp", None) is None:
        return b""
    try:
        pos = im.fp.tell()
        im.fp.seek(0)
        head = im.fp.read(64)
        im.fp.seek(pos)
        return head
    except (OSError, ValueError):
        return b""


def sharpness(grey: Image.Image) -> float:
    """Fine detail of the hashing-size image (short side 256-511 px, so copies at any resolution compare):
    the variance of its Laplacian over the variance of its pixels, in the central 256 px square (about
    1 ms)."""
    w, h = grey.size
    if w > 256 or h > 256:
        left, top = max(0, (w - 256) // 2), max(0, (h - 256) // 2)
        grey = grey.crop((left, top, left + min(w, 256), top + min(h, 256)))
    a = np.asarray(grey, dtype=np.float32)
    if a.shape[0] < 3 or a.shape[1] < 3:
        return 0.0
    lap = a[1:-1, 1:-1] * 4 - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    spread = float(a.var())
    return round(float(lap.var()) / spread, 4) if spread > 1e-6 else 0.0


# --------------------------------------------------------------------------- decoding

def _draft(im: Image.Image, min_side: int | None, min_long: int | None) -> None:
    """Ask libjpeg for the smallest DCT scale that keeps the requested size (no-op for other formats)."""
    if im.format != "JPEG":
        return
    w, h = im.size
    if min_long:
        k = max(w, h) / min_long
        req = (max(1, int(w / k)), max(1, int(h / k)))
    else:
        req = (min_side, min_side)
    im.draft("RGB", req)


def _reduce_factor(size: tuple[int, int], min_side: int, min_long: int | None) -> int:
    return max(1, max(size) // min_long if min_long else min(size) // min_side)


def _raw_row_chunks(im: Image.Image) -> list[list] | None:
    """Group an uncompressed strip TIFF's tiles into full-width row chunks of ~CHUNK_BYTES, or None."""
    if im.format != "TIFF" or not im.tile or any(t.codec_name != "raw" for t in im.tile):
        return None
    if any(t.extents[0] != 0 or t.extents[2] != im.width for t in im.tile):
        return None
    bpp = {"L": 1, "P": 1, "RGB": 3, "RGBA": 4, "CMYK": 4, "LA": 2, "I;16": 2}.get(im.mode)
    if bpp is None:
        return None
    row_bytes = im.width * bpp
    rows_per_chunk = max(1, CHUNK_BYTES // row_bytes)
    pieces = []
    for t in sorted(im.tile, key=lambda t: t.extents[1]):
        y0, y1 = t.extents[1], t.extents[3]
        stride = t.args[1] if len(t.args) > 1 and t.args[1] else row_bytes
        for y in range(y0, y1, rows_per_chunk):
            rows = min(rows_per_chunk, y1 - y)
            pieces.append(t._replace(extents=(0, y, im.width, y + rows), offset=t.offset + (y - y0) * stride))
    chunks: list[list] = [[]]
    for piece in pieces:
        if chunks[-1] and piece.extents[3] - chunks[-1][0].extents[1] > rows_per_chunk:
            chunks.append([])
        chunks[-1].append(piece)
    return chunks


def _iter_row_chunks(source, chunks: list[list]) -> Iterator[Image.Image]:
    """Decode the given row chunks one at a time (memory = one chunk), re-opening for each chunk."""
    for chunk in chunks:
        if hasattr(source, "seek"):
            source.seek(0)
        part = _open(source)
        y0 = chunk[0].extents[1]
        y1 = chunk[-1].extents[3]
        part._size = (part.width, y1 - y0)
        part._tile_size = part._size  # TIFF load_prepare() allocates _tile_size: keep it to the chunk
        part.tile = [t._replace(extents=(0, t.extents[1] - y0, part.width, t.extents[3] - y0)) for t in chunk]
        _load(part, _name(source))
        yield part


def _load_reduced(
    im: Image.Image, source, min_side: int, min_long: int | None, max_bytes: int
) -> Image.Image:
    """Decode a huge image reduced by an integer box factor in bounded memory: uncompressed strip TIFFs in
    row chunks, PNG/TIFF/WebP streamed through libvips; anything else decodes whole, within max_bytes."""
    k = _reduce_factor(im.size, min_side, min_long)
    chunks = _raw_row_chunks(im) if k > 1 else None
    if chunks is None and k > 1 and _vips_streams(im):
        return _vips_reduced(im, source, k)
    if chunks is None:
        _check_whole_decode(im, _name(source), max_bytes)
        _load(im, _name(source))
        return _reduce_whole(im, k) if k > 1 else im
    # Pillow cannot box-reduce 1-bit or 16-bit images: those chunks become 8-bit L first.
    out = Image.new(im.mode if im.mode not in ("1", "I;16") else "L", (-(-im.width // k), -(-im.height // k)))
    carry: Image.Image | None = None
    y_out = 0
    for part in _iter_row_chunks(source, chunks):
        if part.mode == "1":
            part = part.convert("L")
        elif part.mode == "I;16":
            part = _sixteen_to_eight(part)
        if carry is not None:
            part = _vstack(carry, part)
        usable = part.height - part.height % k
        if usable:
            small = part.crop((0, 0, part.width, usable)).reduce(k)
            out.paste(small, (0, y_out))
            y_out += small.height
        carry = part.crop((0, usable, part.width, part.height)) if usable < part.height else None
    if carry is not None:
        out.paste(carry.reduce(k), (0, y_out))
    out.info = im.info
    return out


def _decode_bytes(im: Image.Image) -> int:
    """Memory Pillow holds for the decoded image: 1 byte a pixel for 1/L/P, 2 for I;16, else 4; an
    interlaced PNG also holds its passes (bench/memory.py measured 2.1 times the image)."""
    per_pixel = 1 if im.mode in ("1", "L", "P") else 2 if im.mode.startswith("I;16") else 4
    return int(im.width * im.height * per_pixel * (INTERLACED_FACTOR if _interlaced(im) else 1))


def _check_whole_decode(im: Image.Image, name: str, max_bytes: int) -> None:
    need = _decode_bytes(im)
    if need > max_bytes:
        how = f" ({'interlaced ' if _interlaced(im) else ''}{im.format} {im.mode})"
        raise ImageDecodeError(
            f"{name}: {im.width}x{im.height}{how} must be decoded whole, which needs about {need >> 20} MB, "
            f"above the decode memory ceiling of {max_bytes >> 20} MB (MASTERCOPY_DECODE_MAX_BYTES): refused "
            "so the worker cannot run out of memory"
        )


def _reduce_whole(im: Image.Image, k: int) -> Image.Image:
    """im.reduce(k); palette and 1-bit images are converted band by band first (reduce needs pixel
    values), so the full-size conversion (4 bytes a pixel) never exists at once."""
    if im.mode not in ("P", "1"):
        return im.reduce(k)
    target = "L" if im.mode == "1" else "RGBA" if "transparency" in im.info else "RGB"
    out = Image.new(target, (-(-im.width // k), -(-im.height // k)))
    rows = max(k, (CHUNK_BYTES // (4 * im.width)) // k * k)
    for y in range(0, im.height, rows):
        band = im.crop((0, y, im.width, min(y + rows, im.height))).convert(target)
        out.paste(band.reduce(k), (0, y // k))
    out.info = im.info
    return out


def _interlaced(im: Image.Image) -> bool:
    return bool(im.info.get("interlace"))  # Adam7 PNG: libpng/libspng must hold the whole image


def _vips_streams(im: Image.Image) -> bool:
    return pyvips is not None and im.format in _VIPS_STREAMED and not _interlaced(im)


@contextlib.contextmanager
def _vips_image(source, **options) -> Iterator:
    """The first page of source as a sequential (streamed) libvips image; options go to the loader."""
    if isinstance(source, str | os.PathLike):
        yield pyvips.Image.new_from_file(os.fspath(source), access="sequential", **options)
        return
    source.seek(0)
    stream = pyvips.SourceCustom()
    stream.on_read(source.read)
    stream.on_seek(lambda offset, whence: (source.seek(offset, whence), source.tell())[1])
    try:
        yield pyvips.Image.new_from_source(stream, "", access="sequential", **options)
    finally:
        del stream  # kept alive while libvips reads from it


def _vips_reduced(im: Image.Image, source, k: int) -> Image.Image:
    """Box-reduce by k while libvips streams the file (a few rows in memory); the result is in the mode
    Pillow would have decoded, 16 bits taken to 8 (as Pillow does for 48-bit RGB)."""
    name = _name(source)
    # libwebp decodes straight at the reduced size (its own area-averaging scaler): it cannot stream rows.
    options = {"scale": 1 / k} if im.format == "WEBP" else {}
    try:
        with _vips_image(source, **options) as image:
            if image.format == "ushort":
                image = image >> 8
            small = (image if options else image.shrink(k, k)).cast("uchar")
            mode = _vips_mode(small, cmyk=im.mode == "CMYK")
            if mode is None:
                raise ImageDecodeError(f"{name}: {image.bands}-band {image.format} image not supported")
            out = Image.frombytes(mode, (small.width, small.height), small.write_to_memory())
    except pyvips.Error as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ImageDecodeError(f"{name}: corrupt or truncated image data ({message})")
    out.info = im.info
    return out


def _vips_mode(image, *, cmyk: bool) -> str | None:
    if cmyk:
        return "CMYK" if image.bands == 4 else None
    return {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(image.bands)


def _vstack(a: Image.Image, b: Image.Image) -> Image.Image:
    out = Image.new(a.mode, (a.width, a.height + b.height))
    out.paste(a, (0, 0))
    out.paste(b, (0, a.height))
    return out


def _sixteen_to_eight(im: Image.Image) -> Image.Image:
    arr = np.asarray(im)
    if im.mode == "F":
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if im.mode == "I" and arr.max(initial=0) <= 255:
        return Image.fromarray(arr.astype(np.uint8))
    return Image.fromarray((np.clip(arr, 0, 65535) >> 8).astype(np.uint8))


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            notes.append("CMYK converted to sRGB via ICC profile")
            return out
        except (OSError, ImageCms.PyCMSError) as exc:
            notes.append(f"CMYK ICC profile unusable ({exc}); naive CMYK->RGB")
            return im.convert("RGB")
    notes.append("CMYK without ICC profile: naive CMYK->RGB")
    return im.convert("RGB")


def _composite_on_white(im: Image.Image, notes: list[str]) -> Image.Image:
    target = "L" if im.mode in ("LA", "La") else "RGB"
    wanted = "LA" if target == "L" else "RGBA"
    rgba = im if im.mode == wanted else im.convert(wanted)
    alpha = rgba.getchannel("A")
    base = Image.new(target, im.size, WHITE if target == "L" else (WHITE,) * 3)
    # Pasting LA/RGBA into L/RGB takes the colour bands as they are: as pasting rgba.convert(target), without
    # that full-size copy.
    base.paste(rgba, mask=alpha)
    if alpha.getextrema()[0] < 255:
        notes.append("alpha composited on white")
    return base


def _normalise(im: Image.Image, notes: list[str]) -> Image.Image:
    """Return an 8-bit RGB or L image; record every lossy or interpretive step in notes."""
    mode = im.mode
    if mode in ("RGB", "L"):
        return im
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I") or mode == "F":
        notes.append("16-bit reduced to 8-bit" if mode.startswith("I;16") or mode == "I" else "float reduced")
        return _sixteen_to_eight(im)
    if mode == "CMYK":
        return _cmyk_to_rgb(im, im.info.get("icc_profile"), notes)
    if mode == "P":
        if "transparency" in im.info:
            return _composite_on_white(im.convert("RGBA"), notes)
        return im.convert("RGB")
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        return _composite_on_white(im, notes)
    return im.convert("RGB")


def _decode(
    source, *, min_side: int, min_long: int | None, max_bytes: int | None = None, copy_px: int | None = None
) -> tuple[Signals, Image.Image, bytes | None]:
    """(signals, the decoded upright image, the preview copied from the file or None). With copy_px, a
    JPEG that can be its own preview (_preview_copy) is decoded at the hashes' scale, not the preview's."""
    max_bytes = max_bytes or MAX_DECODE_BYTES
    im = _open(source)
    sig = _metadata(im)
    copied = _preview_copy(source, im, sig, copy_px) if copy_px else None
    if copied is not None:
        min_long = None
    if sig.bit_depth == 16 and not im.mode.startswith("I"):
        sig.notes.append("16-bit reduced to 8-bit")  # Pillow reads 48-bit RGB as 8-bit RGB
    if sig.frames > 1:
        sig.notes.append(f"multi-frame: first of {sig.frames} used")
    _draft(im, min_side, min_long)
    if im.format != "JPEG" and im.width * im.height > REDUCE_ABOVE_PIXELS:
        decoded = _load_reduced(im, source, min_side, min_long, max_bytes)
    else:
        _check_whole_decode(im, _name(source), max_bytes)  # a JPEG is measured at its draft scale
        _load(im, _name(source))
        decoded = im
    img = _normalise(decoded, sig.notes)
    if sig.bit_depth == 16 and "16-bit reduced to 8-bit" not in sig.notes:
        sig.notes.append("16-bit reduced to 8-bit")  # while shrinking a huge image (chunked or libvips)
    op = _EXIF_TRANSPOSE.get(sig.exif_orientation)
    return sig, img.transpose(op) if op is not None else img, copied


def _hash_image(img: Image.Image) -> Image.Image:
    """Box-reduce by a power of two until the short side is < 2*HASH_MIN_SIDE.

    Hashing a ~256-511 px image keeps imagehash's Lanczos resizes cheap, and it makes the hash-only decode
    (libjpeg 1/4 or 1/8 scale) and the derivatives decode (1/1 or 1/2 scale, then reduced) nearly the same.
    """
    f = 1
    while min(img.size) // (2 * f) >= HASH_MIN_SIDE:
        f *= 2
    return img.reduce(f) if f > 1 else img


def decode_for_hashing(
    source, *, derivatives: bool = False, preview_px: int = 1600, max_decode_bytes: int | None = None
) -> Image.Image:
    """The exact RGB/L image compute_signals hashes (for tests and debugging)."""
    min_long = int(preview_px * PREVIEW_DRAFT_FRACTION) if derivatives else None
    copy_px = int(preview_px * PREVIEW_SLACK) if derivatives else None
    _, img, _ = _decode(
        source, min_side=HASH_MIN_SIDE, min_long=min_long, max_bytes=max_decode_bytes, copy_px=copy_px
    )
    return _hash_image(img)


# --------------------------------------------------------------------------- hashing

_DCT32 = scipy.fftpack.dct(np.eye(32), axis=0)  # rows: scipy's unnormalised DCT-II basis
_D8 = _DCT32[:8]
_BIT_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def _bits_to_int(bits: np.ndarray) -> int:
    """Row-major bool array of 64 -> int, the same bit order as int(str(imagehash.ImageHash), 16)."""
    return int(np.bitwise_or.reduce(np.where(bits.reshape(-1), _BIT_WEIGHTS, np.uint64(0))))


def _dct_low(grey: Image.Image) -> np.ndarray:
    pixels = np.asarray(grey.resize((32, 32), Image.Resampling.LANCZOS))
    return scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:8, :8]


def _phash_from_low(low: np.ndarray) -> int:
    return _bits_to_int(low > np.median(low))


_SIGN = (-1.0) ** np.arange(8)
_ROW_SIGN = _SIGN[:, None] * np.ones((1, 8))  # flip top-bottom negates odd vertical frequencies
_COL_SIGN = np.ones((8, 1)) * _SIGN[None, :]  # flip left-right negates odd horizontal frequencies


def _orient_lows(low: np.ndarray) -> list[np.ndarray]:
    """8x8 low DCT blocks of the ORIENTATIONS transposes, derived from the upright block."""
    lr, tb = low * _COL_SIGN, low * _ROW_SIGN
    r180 = low * _ROW_SIGN * _COL_SIGN
    # ROTATE_90 (ccw) = flip_tb(transpose); ROTATE_270 = flip_lr(transpose); TRANSVERSE = rot180(transpose)
    tr = low.T
    return [low, lr, tb, tr * _ROW_SIGN, r180, tr * _COL_SIGN, tr, tr * _ROW_SIGN * _COL_SIGN]


def _dhash(grey: Image.Image) -> int:
    pixels = np.asarray(grey.resize((9, 8), Image.Resampling.LANCZOS))
    return _bits_to_int(pixels[:, 1:] > pixels[:, :-1])


def _colorhash(img: Image.Image) -> str:
    return str(imagehash.colorhash(img.resize((64, 64), Image.Resampling.BOX), binbits=3))


_REGION_N = 128


def _box_matrix(a: float, b: float, n: int = _REGION_N, out: int = 32) -> np.ndarray:
    """(out, n) matrix: exact area average of pixels [a*n, b*n) split into ``out`` equal cells."""
    edges = np.linspace(a * n, b * n, out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(n)[None, :]
    cover = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0.0, None)
    return cover / cover.sum(axis=1, keepdims=True)


def _region_op(a: float, b: float, blur: float) -> np.ndarray:
    """(8, n): the low 8 DCT rows of the 32-cell box resampling of [a, b), averaged over edges +-blur."""
    shifts = (-blur, 0.0, blur) if blur else (0.0,)
    return np.mean([_D8 @ _box_matrix(max(0.0, a + e0), min(1.0, b + e1)) for e0 in shifts for e1 in shifts],
                   axis=0)


def _region_ops() -> tuple[np.ndarray, np.ndarray]:
    pairs = list(zip(CROP_REGIONS, CROP_REGION_BLUR, strict=True))
    rows = np.stack([_region_op(y0, y1, d) for (_, y0, _, y1), d in pairs])
    cols = np.stack([_region_op(x0, x1, d) for (x0, _, x1, _), d in pairs])
    return rows, cols


_ROW_OPS, _COL_OPS = _region_ops()


def _crop_hashes(grey: Image.Image) -> list[int]:
    """pHash-style codes of CROP_REGIONS from a 128x128 box-reduced copy.

    A region's 8x8 low DCT block is ``R @ base @ C.T`` with precomputed (8, 128) operators (box resampling
    of the region to 32x32 followed by the DCT; blurred regions average the operator over shifted edges),
    so all regions cost two batched matrix products.
    """
    base = np.asarray(grey.resize((_REGION_N, _REGION_N), Image.Resampling.BOX), dtype=np.float64)
    low = np.matmul(np.matmul(_ROW_OPS, base), _COL_OPS.transpose(0, 2, 1)).reshape(len(CROP_REGIONS), -1)
    bits = low > np.median(low, axis=1, keepdims=True)
    words = np.bitwise_or.reduce(np.where(bits, _BIT_WEIGHTS, np.uint64(0)), axis=1)
    return [int(w) for w in words]


# --------------------------------------------------------------------------- borders

BORDER_TOL = 20  # max channel deviation from the edge colour (JPEG noise on flat scanner borders)
BORDER_FILL = 0.98  # fraction of a row/column that must match the edge colour
BORDER_MIN = 0.01  # ignore trims thinner than 1% of the side


def _edge_run(lines: np.ndarray) -> int:
    """Number of leading lines (axis 0) that are uniform in the colour of the first line.

    Lines are compared in growing chunks (4, 8, 16, ...) and the scan stops at the first chunk with a line
    that differs: most pictures have no border, and comparing all 40% of the lines up front took ~20 ms an
    image, a quarter of a fingerprint (bench/fingerprint.py). Same answer as comparing them all."""
    depth = max(1, int(len(lines) * 0.4))  # a "border" deeper than 40% is content, not a border
    ref = np.median(lines[0], axis=0).astype(np.int16)
    start, chunk = 0, 4
    while start < depth:
        stop = min(depth, start + chunk)
        close = (np.abs(lines[start:stop] - ref) <= BORDER_TOL).all(axis=-1).mean(axis=1) >= BORDER_FILL
        if not close.all():
            return start + int(np.argmin(close))
        start, chunk = stop, chunk * 2
    return depth


def find_trim_box(img: Image.Image) -> tuple[float, float, float, float] | None:
    """Uniform border (scanner bed, mount, letterbox) as fractions (l, t, r, b), or None."""
    k = max(1, max(img.size) // 256)
    arr = np.asarray(img.reduce(k) if k > 1 else img).astype(np.int16)
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w = arr.shape[:2]
    cols = arr.transpose(1, 0, 2)
    top, bottom, left, right = _edge_run(arr), _edge_run(arr[::-1]), _edge_run(cols), _edge_run(cols[::-1])
    if max(top / h, bottom / h, left / w, right / w) < BORDER_MIN:
        return None
    return (left / w, top / h, 1 - right / w, 1 - bottom / h)


# --------------------------------------------------------------------------- derivatives

def _jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=False)
    return buf.getvalue()


PREVIEW_SLACK = 1.25  # a draft-decoded 1280-2000 px image is used as the preview as is (no resize)


# Above this many pixels a preview is shrunk by libvips: its linear reduce is the same triangle filter as
# Pillow's BILINEAR (pixels within 2 levels, mean 0.1), in 1/3 of the CPU time (a 2,150 x 1,500 draft to
# 1,600 px: 31-53 ms in Pillow, 12-15 ms with the copies in and out); below it Pillow's call is as cheap.
VIPS_SHRINK_PIXELS = 1_000_000


def _fit(img: Image.Image, long_side: int, slack: float = 1.0) -> Image.Image:
    if max(img.size) <= long_side * slack:
        return img
    scale = long_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if pyvips is not None and img.mode in ("RGB", "L") and img.width * img.height > VIPS_SHRINK_PIXELS:
        shrunk = _vips_shrink(img, size)
        if shrunk is not None:
            return shrunk
    return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _vips_shrink(img: Image.Image, size: tuple[int, int]) -> Image.Image | None:
    """img reduced to size by libvips' linear (triangle) filter, or None where libvips gives another size."""
    bands = len(img.getbands())
    try:
        image = pyvips.Image.new_from_memory(img.tobytes(), img.width, img.height, bands, "uchar")
        small = image.reduce(img.width / size[0], img.height / size[1], kernel="linear")
        if (small.width, small.height) != size or small.bands != bands or small.format != "uchar":
            return None
        return Image.frombytes(img.mode, size, small.write_to_memory())
    except pyvips.Error:
        return None


# A JPEG original no larger than a preview is its own preview: its segments copied without the metadata
# (APP1-APP15, COM), as a re-encode drops them, so no pixel is decoded, resized or encoded for it and the
# decode can stop at the hashes' scale. Only where a browser shows exactly what the re-encode showed: an
# upright (EXIF orientation 1), single-frame, 8-bit baseline or progressive Huffman JPEG in RGB or grey
# without an Adobe segment, of at most PREVIEW_COPY_BITS bits a pixel (a q100 scan keeps the re-encode).
PREVIEW_COPY_BITS = 4.0
_COPY_SOF = {0xC0, 0xC1, 0xC2}
_OTHER_SOF = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_DROPPED = {0xFE, *range(0xE1, 0xF0)}


def _preview_copy(source, im: Image.Image, sig: Signals, long_side: int) -> bytes | None:
    if (im.format != "JPEG" or im.mode not in ("RGB", "L") or sig.exif_orientation != 1 or sig.frames != 1
            or max(im.size) > long_side or "adobe" in im.info):
        return None
    limit = int(im.width * im.height * PREVIEW_COPY_BITS / 8)
    try:
        if isinstance(source, str | os.PathLike):
            if os.path.getsize(source) > limit:
                return None
            with open(source, "rb") as f:
                data = f.read()
        else:
            pos = source.tell()
            try:
                source.seek(0, os.SEEK_END)
                if source.tell() > limit:
                    return None
                source.seek(0)
                data = source.read()
            finally:
                source.seek(pos)
    except OSError:
        return None
    return _strip_jpeg(data)


def _strip_jpeg(data: bytes) -> bytes | None:
    """data's segments up to the first scan less _DROPPED, then the scans as they are; None for a JPEG that
    is not 8-bit baseline/progressive Huffman or whose header does not parse."""
    out, pos, seen_sof = [b"\xff\xd8"], 2, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data) or marker in _OTHER_SOF:
            return None
        if marker in _COPY_SOF:
            if data[pos + 4] != 8:  # sample precision
                return None
            seen_sof = True
        if marker == 0xDA:
            return b"".join(out) + data[pos:] if seen_sof else None
        if marker not in _DROPPED:
            out.append(data[pos:end])
        pos = end
    return None


# --------------------------------------------------------------------------- public API

def _fill_hashes(sig: Signals, img: Image.Image) -> None:
    grey = img if img.mode == "L" else img.convert("L")
    sig.quality["sharpness"] = sharpness(grey)
    lows = _orient_lows(_dct_low(grey))
    sig.orient_phashes = [_phash_from_low(low) for low in lows]
    sig.phash = sig.orient_phashes[0]
    sig.dhash = _dhash(grey)
    sig.colorhash = _colorhash(img)
    sig.crop_hashes = _crop_hashes(grey)
    box = find_trim_box(img)
    if box is not None:
        sig.trim_box = box
        px = (round(box[0] * grey.width), round(box[1] * grey.height),
              round(box[2] * grey.width), round(box[3] * grey.height))
        sig.trimmed_phash = _phash_from_low(_dct_low(grey.crop(px)))


def compute_signals(
    source, *, want_pixel_digest: bool = False, preview_px: int = 1600, thumb_px: int = 256,
    derivatives: bool = True, max_decode_bytes: int | None = None,
) -> tuple[Signals, bytes | None, bytes | None]:
    """Decode once and return (signals, preview JPEG, thumbnail JPEG); JPEGs are None without derivatives.

    source: a path or a binary file object. Raises ImageDecodeError for anything that is not a readable image,
    and for one whose decode would need more than max_decode_bytes (default MAX_DECODE_BYTES).
    """
    min_long = int(preview_px * PREVIEW_DRAFT_FRACTION) if derivatives else None
    copy_px = int(preview_px * PREVIEW_SLACK) if derivatives else None
    sig, img, copied = _decode(
        source, min_side=HASH_MIN_SIDE, min_long=min_long, max_bytes=max_decode_bytes, copy_px=copy_px
    )
    small = _hash_image(img)
    _fill_hashes(sig, small)
    preview = thumb = None
    if derivatives:
        preview = copied or _jpeg_bytes(_fit(img, preview_px, PREVIEW_SLACK), PREVIEW_QUALITY)
        thumb = _jpeg_bytes(_fit(small if max(small.size) >= thumb_px else img, thumb_px), THUMB_QUALITY)
    if want_pixel_digest:
        if hasattr(source, "seek"):
            source.seek(0)
        sig.pixel_digest = pixel_digest(source, max_decode_bytes=max_decode_bytes)
    return sig, preview, thumb


def _canonical_mode(im: Image.Image) -> Image.Image:
    if im.mode == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    return im


def pixel_digest(source, *, max_decode_bytes: int | None = None) -> str:
    """sha256 of the full-resolution decoded pixels after EXIF orientation: mode, size, then raw rows.

    No draft, so a JPEG re-encode differs while PNG/TIFF/metadata-stripped copies agree. Memory is bounded:
    uncompressed strip TIFFs with orientation 1 are hashed chunk by chunk (peak ~CHUNK_BYTES), huge
    PNG/TIFF/JPEG files are streamed through libvips (the same bytes as Pillow's, tested); every other file
    is decoded whole (refused above max_decode_bytes) and hashed band by band, so no full-size copy is made.
    """
    max_bytes = max_decode_bytes or MAX_DECODE_BYTES
    im = _open(source)
    orientation = _exif_fields(im)[0]
    chunks = _raw_row_chunks(im) if orientation == 1 and im.mode != "P" else None
    h = hashlib.sha256()
    if chunks is not None and len(chunks) > 1:
        h.update(f"{im.mode} {im.width}x{im.height}\n".encode())
        for part in _iter_row_chunks(source, chunks):
            h.update(part.tobytes())
        return h.hexdigest()
    mode = _canonical_mode_name(im)
    streams = pyvips is not None and im.format in _VIPS_DIGESTED and not _interlaced(im)
    if orientation == 1 and im.width * im.height > REDUCE_ABOVE_PIXELS and streams:
        digest = _vips_digest(source, im, mode)
        if digest is not None:
            return digest
    _check_whole_decode(im, _name(source), max_bytes // 2 if orientation != 1 else max_bytes)
    _load(im, _name(source))
    op = _EXIF_TRANSPOSE.get(orientation)
    img = im.transpose(op) if op is not None else im
    h.update(f"{mode} {img.width}x{img.height}\n".encode())
    rows = max(1, CHUNK_BYTES // (4 * img.width))
    for y in range(0, img.height, rows):
        h.update(_canonical_mode(img.crop((0, y, img.width, min(y + rows, img.height)))).tobytes())
    return h.hexdigest()


def _canonical_mode_name(im: Image.Image) -> str:
    if im.mode == "P":
        return "RGBA" if "transparency" in im.info else "RGB"
    return im.mode


def _vips_digest(source, im: Image.Image, mode: str) -> str | None:
    """pixel_digest's bytes streamed from libvips, or None where its pixels might not be Pillow's."""
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1}.get(mode)
    if bands is None:
        return None
    try:
        with _vips_image(source) as image:
            if (image.width, image.height) != im.size or image.bands != bands:
                return None
            if mode == "I;16":
                if image.format != "ushort" or sys.byteorder != "little":
                    return None
            elif image.format == "ushort":
                image = (image >> 8).cast("uchar")  # Pillow keeps the high byte of 16-bit colour
            elif image.format != "uchar":
                return None
            h = hashlib.sha256(f"{mode} {image.width}x{image.height}\n".encode())
            region = pyvips.Region.new(image)
            rows = max(1, CHUNK_BYTES // (16 * image.width))
            for y in range(0, image.height, rows):
                h.update(region.fetch(0, y, image.width, min(rows, image.height - y)))
            return h.hexdigest()
    except pyvips.Error as exc:
        raise ImageDecodeError(f"{_name(source)}: corrupt or truncated image data ({str(exc).strip()})")
