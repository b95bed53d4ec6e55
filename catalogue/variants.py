"""Archive-style variants of a photo, for the demo, the tests and the accuracy benchmark.

Each variant imitates one way a second copy of a picture ends up in an archive: a byte copy, a
re-export, a rescan, a crop, a caption added by a previous cataloguer, and so on.  One kind is one
transformation, so the benchmark can report recall per kind.  Plain Python (Pillow + numpy), no Django.

Kinds and parameter ranges (``make_variant(..., **params)`` overrides any of them):

==================== =========================================================================================
identical            byte-for-byte copy of the source file.
metadata-stripped    same pixels, EXIF/XMP/ICC/IPTC/comments removed.  JPEG: the original bytes with the
                     APP1-APP13/APP15/COM segments dropped (no re-encode, so decoded pixels are identical;
                     APP0 JFIF and APP14 Adobe stay because they change how pixels decode).  If the source
                     had an EXIF Orientation other than 1, a minimal EXIF block holding only that tag is kept
                     so the photo still displays upright.  Other formats: PNG of the decoded (upright) pixels.
pixel-identical-png  decoded (upright) pixels saved as PNG.
format-tiff          decoded (upright) pixels saved as uncompressed TIFF, as archival masters often are.
resized              Lanczos rescale by ``scale`` in 0.35-0.80 or 1.25-2.00, saved as JPEG ``quality`` 85-95.
recompressed         same size, JPEG ``quality`` 40-75 (4:2:0 chroma subsampling).
format-changed       lossy WebP ``quality`` 80; JPEG q90 4:2:0 where Pillow lacks WebP.
colour-changed       one to three of: ``gamma`` 0.80-0.95 or 1.05-1.25 (out = in ** gamma), ``saturation``
                     0.80-0.95 or 1.05-1.20, a ``cast`` 'warm'/'cool' of ``cast_strength`` 0.03-0.08 (red
                     and blue gains of 1 +/- strength).  Unused ones are reported as 1.0 / None / 0.0.
greyscale            ITU-R 601 luma (Pillow ``L``), JPEG q90.
rotated-90/180/270   exact transposes; ``angle`` is clockwise degrees.
mirrored             exact horizontal flip (``axis='vertical'`` on request).
cropped              ``box`` (left, top, right, bottom) as fractions of the source, keeping an ``area`` of
                     0.70-0.90 with a width fraction within +/-0.08 of sqrt(area) and a random position.
bordered             a uniform ``colour`` white/black/grey scanner border; ``sides`` (l, t, r, b) each
                     0.03-0.10, left/right as fractions of the width, top/bottom of the height; half the
                     time all four sides are equal.
caption-strip        a solid white or black strip of ``height`` 0.08-0.12 of the source height added at the
                     bottom, with a catalogue-style ``text`` in Pillow's default font.
watermark            semi-transparent (``opacity`` 0.25-0.50) white-on-black-outline text or a ring logo,
                     centred and tilted 30 degrees or in a corner; ``size`` (glyph height / shorter side)
                     0.08-0.15 centred, 0.04-0.08 in a corner.
skewed               rotated by ``angle`` +/-1.0-2.0 degrees (positive = counter-clockwise, bicubic), the
                     canvas expanded and filled white, like a crooked scan.
exif-rotated         pixels stored turned, with an EXIF ``orientation`` 6, 8 or 3 that makes viewers (and
                     ``ImageOps.exif_transpose``) show the original upright picture.
downscaled           Lanczos reduction by ``scale`` in 0.35-0.80, saved as JPEG ``quality`` 85-95.
upscaled-lanczos     Lanczos enlargement by ``scale`` in 1.2-3.0 (lowered so the long side stays within
                     8000 px), in the source's family: an upscale, which adds pixels but no detail.
upscaled-bicubic     the same with bicubic interpolation.
upscaled-sharpened   bicubic, then an unsharp mask (radius 2, 120%, threshold 2), as editors "enhance".
==================== =========================================================================================

Output formats.  Kinds without a format in the table above keep the source's family, so that the variant
differs from its source by the one transformation and not by an extra lossy re-encode: JPEG sources give
JPEG q95 4:4:4, everything else gives PNG (lossless, so the geometric kinds are exact there).  Derived files
carry no metadata except the EXIF block of exif-rotated.

Mode handling.  Everything works on the upright picture (EXIF orientation applied).  Lossless outputs of
pixel-identical and geometric kinds keep the mode where the format can hold it (L, RGB, RGBA, P, ...).
Otherwise images are flattened to 8-bit L or RGB: transparency composited on white, palettes expanded,
CMYK/YCbCr converted, 16-bit greyscale reduced to 8 bits.

Determinism.  The same source, kind, seed and parameters give the same bytes.  ``make_variants`` seeds
each kind from (seed, SHA-256 of the source bytes, kind), so the choices for one kind do not depend on
which other kinds were requested, and different photos get different crops, angles, etc.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps, features

__all__ = ['KINDS', 'Variant', 'describe', 'make_variant', 'make_variants']

KINDS = (
    'identical', 'metadata-stripped', 'pixel-identical-png', 'format-tiff', 'resized', 'recompressed',
    'format-changed', 'colour-changed', 'greyscale', 'rotated-90', 'rotated-180', 'rotated-270', 'mirrored',
    'cropped', 'bordered', 'caption-strip', 'watermark', 'skewed', 'exif-rotated',
    'downscaled', 'upscaled-lanczos', 'upscaled-bicubic', 'upscaled-sharpened',
)

# Parameter ranges, shared by the generators and describe() so the two cannot drift apart.
RESIZE_DOWN = (0.35, 0.80)
RESIZE_UP = (1.25, 2.00)
RESIZE_QUALITY = (85, 95)
RECOMPRESS_QUALITY = (40, 75)
WEBP_QUALITY = 80
GAMMA_RANGES = ((0.80, 0.95), (1.05, 1.25))
SATURATION_RANGES = ((0.80, 0.95), (1.05, 1.20))
CAST_STRENGTH = (0.03, 0.08)
GREYSCALE_QUALITY = 90
CROP_AREA = (0.70, 0.90)
BORDER_SIDE = (0.03, 0.10)
BORDER_COLOURS = {'white': 255, 'black': 0, 'grey': 128}
CAPTION_HEIGHT = (0.08, 0.12)
WATERMARK_OPACITY = (0.25, 0.50)
WATERMARK_SIZE = {'centre': (0.08, 0.15), 'bottom-right': (0.04, 0.08), 'top-left': (0.04, 0.08)}
SKEW_ANGLE = (1.0, 2.0)
UPSCALE = (1.2, 3.0)
UPSCALE_MAX_LONG = 8000   # an upscale's long side stays within this (the scale is lowered to fit)
SHARPEN = {'radius': 2.0, 'percent': 120, 'threshold': 2}
EXIF_ORIENTATIONS = (6, 8, 3)

# Quality for kinds whose spec fixes no format: high enough that the transformation, not the codec,
# is what the duplicate finder has to see through.
FAMILY_JPEG = {'quality': 95, 'subsampling': 0}

_EXT = {'JPEG': '.jpg', 'PNG': '.png', 'TIFF': '.tif', 'WEBP': '.webp'}
_PNG_MODES = {'1', 'L', 'LA', 'P', 'RGB', 'RGBA', 'I', 'I;16'}
_TIFF_MODES = _PNG_MODES | {'CMYK', 'I;16B', 'F'}
_ORIENTATION_TAG = 0x0112
# exif_transpose undoes an orientation with these; storing pixels turned the opposite way is what a
# camera held sideways does.
_STORE_TRANSPOSE = {
    3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
}
_CAPTIONS = (
    'Archive ref. {ref} - photographer unknown',
    'Neg. no. {ref} - gift of the family, 1978',
    'Coll. {ref} / do not reproduce without permission',
    'Cat. {ref} - scanned from print, 600 dpi',
)
_WATERMARK_TEXTS = ('SAMPLE', 'PROOF', '(c) Mastercopy Archive', 'NOT FOR PUBLICATION')


@dataclass(frozen=True)
class Variant:
    kind: str
    params: dict
    filename: str
    data: bytes


def describe(kind: str) -> str:
    """One line: what the transformation is and its parameter ranges."""
    try:
        return _DESCRIPTIONS[kind]
    except KeyError:
        raise ValueError(f'unknown variant kind {kind!r}; expected one of {", ".join(KINDS)}')


def make_variant(source_path_or_image, kind: str, *, rng: random.Random | None = None, **params) -> Variant:
    """Make one variant of a photo given as a path, raw file bytes or a PIL image.

    Parameters not given in ``params`` are drawn from ``rng`` (default: seeded from the kind alone).
    The returned ``Variant.params`` holds every parameter used, so passing them back reproduces the bytes.
    """
    if kind not in _GENERATORS:
        describe(kind)  # raises the helpful error
    src = source_path_or_image
    if not isinstance(src, _Source):
        src = _Source.of(src)
    if rng is None:
        rng = random.Random(f'0:{kind}')
    overrides = _Params(kind, params)
    data, fmt, suffix = _GENERATORS[kind](src, rng, overrides)
    overrides.check_all_used()
    ext = src.suffix if kind == 'identical' and src.suffix else _EXT.get(fmt, f'.{fmt.lower()}')
    name = f'{src.stem}__{kind}{suffix}{ext}'
    return Variant(kind=kind, params=overrides.used, filename=name, data=data)


def make_variants(source_path, kinds: Iterable[str] = KINDS, *, seed: int = 0) -> list[Variant]:
    """All requested kinds for one photo, decoded once, deterministic for ``seed``."""
    src = _Source.of(source_path)
    digest = hashlib.sha256(src.data).hexdigest()[:16] if src.data is not None else src.stem
    return [make_variant(src, kind, rng=random.Random(f'{seed}:{digest}:{kind}')) for kind in kinds]


# --- source handling -------------------------------------------------------------------------------------


class _Source:
    """The source photo: its bytes (when known), format, name, and lazily decoded forms."""

    def __init__(self, image: Image.Image, data: bytes | None, stem: str, suffix: str):
        self.image = image
        self.data = data
        self.stem = stem
        self.suffix = suffix
        self.format = (image.format or '').upper()

    @classmethod
    def of(cls, obj) -> _Source:
        if isinstance(obj, Image.Image):
            filename = getattr(obj, 'filename', '') or ''
            data = None
            if filename and os.path.isfile(filename):
                data = Path(filename).read_bytes()
            path = Path(filename) if filename else Path('image')
            return cls(obj, data, path.stem, path.suffix)
        if isinstance(obj, bytes | bytearray | memoryview):
            data = bytes(obj)
            return cls(Image.open(io.BytesIO(data)), data, 'image', '')
        path = Path(obj)
        data = path.read_bytes()
        return cls(Image.open(io.BytesIO(data)), data, path.stem, path.suffix)

    @cached_property
    def orientation(self) -> int:
        try:
            value = int(self.image.getexif().get(_ORIENTATION_TAG, 1))
        except (TypeError, ValueError):
            return 1
        # Some cameras write 0 or junk; viewers treat anything outside 1-8 as upright.
        return value if 1 <= value <= 8 else 1

    @cached_property
    def upright(self) -> Image.Image:
        """Decoded first frame with EXIF orientation applied, in its own mode."""
        self.image.seek(0)
        self.image.load()
        upright = ImageOps.exif_transpose(self.image)
        # Decoders in odd modes (YCbCr from some TIFFs, LAB) cannot be written anywhere useful.
        if upright.mode in ('YCbCr', 'LAB', 'HSV'):
            upright = upright.convert('RGB')
        return upright

    @cached_property
    def flat(self) -> Image.Image:
        return _flatten(self.upright)

    @property
    def lossy(self) -> bool:
        return self.format in ('JPEG', 'MPO')


def _flatten(im: Image.Image) -> Image.Image:
    """8-bit L or RGB: the common ground of every codec and every edit."""
    mode = im.mode
    if mode in ('L', 'RGB'):
        return im
    if mode == '1':
        return im.convert('L')
    if mode.startswith('I;16') or mode == 'I':
        arr = np.asarray(im.convert('I') if mode != 'I' else im, dtype=np.int64)
        return Image.fromarray((np.clip(arr, 0, 65535) >> 8).astype(np.uint8), 'L')
    if mode == 'F':
        arr = np.asarray(im, dtype=np.float64)
        # Float images are either 0-1 or 0-255 in practice.
        scale = 255.0 if arr.size and np.nanmax(arr) <= 1.0 else 1.0
        return Image.fromarray(np.clip(np.nan_to_num(arr) * scale, 0, 255).astype(np.uint8), 'L')
    if mode == 'P':
        im = im.convert('RGBA' if 'transparency' in im.info else 'RGB')
    elif mode == 'PA':
        im = im.convert('RGBA')
    elif mode in ('LA', 'La'):
        im = im.convert('LA')
    elif mode == 'RGBa':
        im = im.convert('RGBA')
    if im.mode in ('RGBA', 'LA'):
        grey = im.mode == 'LA'
        rgba = im.convert('RGBA')
        white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
        out = Image.alpha_composite(white, rgba).convert('RGB')
        return out.convert('L') if grey else out
    return im.convert('RGB')


def _for_output(im: Image.Image, fmt: str) -> Image.Image:
    if fmt == 'PNG' and im.mode in _PNG_MODES:
        return im
    if fmt == 'TIFF' and im.mode in _TIFF_MODES:
        return im
    if fmt in ('PNG', 'TIFF') and im.mode in ('LA', 'PA', 'RGBa', 'La'):
        return im.convert('RGBA' if im.mode in ('PA', 'RGBa') else 'LA')
    return _flatten(im)


def _encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im = _for_output(im, fmt)
    if fmt == 'PNG':
        # Level 3 is a third of level 6's time on 6000 px scans for a few percent more bytes.
        kwargs.setdefault('compress_level', 3)
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _family(src: _Source) -> tuple[str, dict]:
    return ('JPEG', dict(FAMILY_JPEG)) if src.lossy else ('PNG', {})


# --- parameters ------------------------------------------------------------------------------------------


class _Params:
    """Caller overrides plus the record of what was actually used, in the order used."""

    def __init__(self, kind: str, overrides: dict):
        self.kind = kind
        self.overrides = dict(overrides)
        self.used: dict[str, Any] = {}

    def get(self, name: str, draw: Callable[[], Any]) -> Any:
        value = self.overrides.pop(name) if name in self.overrides else draw()
        if isinstance(value, list):
            value = tuple(value)
        self.used[name] = value
        return value

    def check_all_used(self) -> None:
        if self.overrides:
            raise TypeError(f'unexpected parameter(s) for {self.kind!r}: {", ".join(sorted(self.overrides))}')


def _two_sided(rng: random.Random, ranges: tuple[tuple[float, float], ...], ndigits: int = 3) -> float:
    lo, hi = rng.choice(ranges)
    return round(rng.uniform(lo, hi), ndigits)


# --- generators: each returns (encoded bytes, format, filename suffix) --------------------------------------


def _identical(src, rng, p):
    if src.data is None:
        raise ValueError("'identical' needs the source file's bytes: pass a path or bytes, not a bare image")
    return src.data, src.format or 'PNG', ''


def _metadata_stripped(src, rng, p):
    if src.lossy and src.data is not None:
        return _strip_jpeg(src.data, src.orientation), 'JPEG', ''
    return _encode(src.upright, 'PNG'), 'PNG', ''


def _pixel_identical_png(src, rng, p):
    return _encode(src.upright, 'PNG'), 'PNG', ''


def _format_tiff(src, rng, p):
    compression = p.get('compression', lambda: 'raw')
    return _encode(src.upright, 'TIFF', compression=compression), 'TIFF', ''


def _resized(src, rng, p):
    scale = p.get('scale', lambda: _two_sided(rng, (RESIZE_DOWN, RESIZE_UP), 2))
    quality = p.get('quality', lambda: rng.randint(*RESIZE_QUALITY))
    w, h = src.flat.size
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = src.flat.resize(size, Image.Resampling.LANCZOS)
    return _encode(out, 'JPEG', quality=quality), 'JPEG', f'-{scale:.2f}'


def _downscaled(src, rng, p):
    scale = p.get('scale', lambda: round(rng.uniform(*RESIZE_DOWN), 2))
    quality = p.get('quality', lambda: rng.randint(*RESIZE_QUALITY))
    w, h = src.flat.size
    out = src.flat.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return _encode(out, 'JPEG', quality=quality), 'JPEG', f'-{scale:.2f}'


def _upscaled(method: str):
    def generate(src, rng, p):
        w, h = src.flat.size
        top = max(1.0, min(UPSCALE[1], UPSCALE_MAX_LONG / max(w, h)))
        scale = p.get('scale', lambda: round(rng.uniform(min(UPSCALE[0], top), top), 2))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        resample = Image.Resampling.LANCZOS if method == 'lanczos' else Image.Resampling.BICUBIC
        out = src.flat.resize(size, resample)
        if method == 'sharpened':
            out = out.filter(ImageFilter.UnsharpMask(**SHARPEN))
        fmt, kwargs = _family(src)
        return _encode(out, fmt, **kwargs), fmt, f'-{scale:.2f}'

    return generate


def _recompressed(src, rng, p):
    quality = p.get('quality', lambda: rng.randint(*RECOMPRESS_QUALITY))
    return _encode(src.flat, 'JPEG', quality=quality, subsampling=2), 'JPEG', f'-q{quality}'


def _format_changed(src, rng, p):
    default_fmt = 'WEBP' if features.check('webp') else 'JPEG'
    fmt = p.get('format', lambda: default_fmt).upper()
    quality = p.get('quality', lambda: WEBP_QUALITY if fmt == 'WEBP' else 90)
    if fmt == 'WEBP':
        data = _encode(src.flat, 'WEBP', quality=quality, method=4)
    else:
        data = _encode(src.flat, 'JPEG', quality=quality, subsampling=2)
    return data, fmt, ''


def _colour_changed(src, rng, p):
    # At least one of the three corrections, as a colour-corrected rescan would have.
    ops = rng.randrange(1, 8)
    gamma = p.get('gamma', lambda: _two_sided(rng, GAMMA_RANGES) if ops & 1 else 1.0)
    saturation = p.get('saturation', lambda: _two_sided(rng, SATURATION_RANGES) if ops & 2 else 1.0)
    cast = p.get('cast', lambda: rng.choice(('warm', 'cool')) if ops & 4 else None)
    strength = p.get('cast_strength', lambda: round(rng.uniform(*CAST_STRENGTH), 3) if cast else 0.0)
    im = src.flat.convert('RGB')
    if saturation != 1.0:
        im = ImageEnhance.Color(im).enhance(saturation)
    gains = {'warm': (1 + strength, 1.0, 1 - strength), 'cool': (1 - strength, 1.0, 1 + strength)}.get(
        cast, (1.0, 1.0, 1.0))
    # One 768-entry lookup table keeps this fast on 6000 px scans.
    lut = [min(255, max(0, round(255.0 * ((v / 255.0) ** gamma) * g))) for g in gains for v in range(256)]
    im = im.point(lut)
    fmt, kwargs = _family(src)
    return _encode(im, fmt, **kwargs), fmt, ''


def _greyscale(src, rng, p):
    quality = p.get('quality', lambda: GREYSCALE_QUALITY)
    return _encode(src.flat.convert('L'), 'JPEG', quality=quality), 'JPEG', ''


def _rotated(clockwise: int):
    method = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}

    def generate(src, rng, p):
        angle = p.get('angle', lambda: clockwise)
        if angle != clockwise:
            raise ValueError(f'rotated-{clockwise} rotates by {clockwise} degrees, not {angle}')
        fmt, kwargs = _family(src)
        return _encode(src.upright.transpose(method[clockwise]), fmt, **kwargs), fmt, ''

    return generate


def _mirrored(src, rng, p):
    axis = p.get('axis', lambda: 'horizontal')
    methods = {'horizontal': Image.Transpose.FLIP_LEFT_RIGHT, 'vertical': Image.Transpose.FLIP_TOP_BOTTOM}
    if axis not in methods:
        raise ValueError(f"mirrored axis must be 'horizontal' or 'vertical', not {axis!r}")
    fmt, kwargs = _family(src)
    return _encode(src.upright.transpose(methods[axis]), fmt, **kwargs), fmt, ''


Box = tuple[float, float, float, float]


def crop_pixel_box(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The pixel box a fractional crop box selects (at least one pixel each way)."""
    w, h = size
    left, top = round(box[0] * w), round(box[1] * h)
    right, bottom = max(left + 1, round(box[2] * w)), max(top + 1, round(box[3] * h))
    return left, top, min(right, w), min(bottom, h)


def _draw_crop_box(rng: random.Random, area: float) -> tuple[float, float, float, float]:
    side = math.sqrt(area)
    wf = rng.uniform(max(area, side - 0.08), min(1.0, side + 0.08))
    hf = min(1.0, area / wf)
    left = rng.uniform(0, 1 - wf)
    top = rng.uniform(0, 1 - hf)
    return tuple(round(v, 4) for v in (left, top, left + wf, top + hf))


def _cropped(src, rng, p):
    area_draw = round(rng.uniform(*CROP_AREA), 3) if 'area' not in p.overrides else p.overrides['area']
    box = p.get('box', lambda: _draw_crop_box(rng, area_draw))
    if not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
        raise ValueError(f'crop box must be fractions with left < right and top < bottom, got {box}')
    # The area reported is that of the box actually used, so passing params back is consistent.
    p.overrides.pop('area', None)
    p.used['area'] = round((box[2] - box[0]) * (box[3] - box[1]), 3)
    fmt, kwargs = _family(src)
    out = src.upright.crop(crop_pixel_box(box, src.upright.size))
    return _encode(out, fmt, **kwargs), fmt, f'-{p.used["area"]:.2f}'


def border_pixels(sides: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Border widths in pixels (left, top, right, bottom) for fractional ``sides`` of an image of ``size``."""
    w, h = size
    return tuple(max(1, round(f * d)) for f, d in zip(sides, (w, h, w, h), strict=True))


def _bordered(src, rng, p):
    colour = p.get('colour', lambda: rng.choice(sorted(BORDER_COLOURS)))

    def draw_sides():
        if rng.random() < 0.5:
            side = round(rng.uniform(*BORDER_SIDE), 3)
            return (side,) * 4
        return tuple(round(rng.uniform(*BORDER_SIDE), 3) for _ in range(4))

    sides = p.get('sides', draw_sides)
    base = src.flat
    left, top, right, bottom = border_pixels(sides, base.size)
    value = BORDER_COLOURS[colour]
    fill = value if base.mode == 'L' else (value,) * 3
    out = Image.new(base.mode, (base.width + left + right, base.height + top + bottom), fill)
    out.paste(base, (left, top))
    fmt, kwargs = _family(src)
    return _encode(out, fmt, **kwargs), fmt, f'-{colour}'


def _font(size: float) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    size = max(6, int(size))
    if features.check('freetype2'):
        return ImageFont.load_default(size=size)
    return ImageFont.load_default()


def _fit_font(draw: ImageDraw.ImageDraw, text: str, size: float, max_width: float):
    font = _font(size)
    width = draw.textlength(text, font=font)
    if width > max_width and isinstance(font, ImageFont.FreeTypeFont):
        font = _font(size * max_width / width)
    return font


def _caption_strip(src, rng, p):
    height = p.get('height', lambda: round(rng.uniform(*CAPTION_HEIGHT), 3))
    background = p.get('background', lambda: rng.choice(('white', 'black')))
    text = p.get('text', lambda: rng.choice(_CAPTIONS).format(
        ref=f'{rng.randint(1900, 1999)}/{rng.randint(1, 9999):04d}'))
    base = src.flat
    strip = max(1, round(base.height * height))
    bg, ink = (255, 0) if background == 'white' else (0, 255)
    colour = (lambda v: v) if base.mode == 'L' else (lambda v: (v,) * 3)
    out = Image.new(base.mode, (base.width, base.height + strip), colour(bg))
    out.paste(base, (0, 0))
    draw = ImageDraw.Draw(out)
    margin = max(2, round(strip * 0.25))
    font = _fit_font(draw, text, strip * 0.45, base.width - 2 * margin)
    draw.text((margin, base.height + strip / 2), text, fill=colour(ink), font=font, anchor='lm')
    fmt, kwargs = _family(src)
    return _encode(out, fmt, **kwargs), fmt, ''


def _watermark_mark(style: str, text: str, px: int) -> Image.Image:
    """The mark at full opacity on a transparent tile, white with a dark outline to show on any photo."""
    font = _font(px)
    stroke = max(1, px // 12)
    if style == 'logo':
        label = ''.join(word[0] for word in text.replace('(c)', '').split() if word[:1].isalnum())[:3] or 'A'
        diameter = px * 3
        tile = Image.new('RGBA', (diameter + 2 * stroke, diameter + 2 * stroke), (0, 0, 0, 0))
        draw = ImageDraw.Draw(tile)
        box = (stroke, stroke, stroke + diameter, stroke + diameter)
        draw.ellipse(box, outline=(0, 0, 0, 255), width=stroke * 3)
        draw.ellipse(box, outline=(255, 255, 255, 255), width=stroke * 2)
        draw.text((tile.width / 2, tile.height / 2), label, font=_font(px * 1.2), anchor='mm',
                  fill=(255, 255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
        return tile
    probe = ImageDraw.Draw(Image.new('RGBA', (1, 1)))
    x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font, stroke_width=stroke)
    tile = Image.new('RGBA', (x1 - x0 + 2, y1 - y0 + 2), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((1 - x0, 1 - y0), text, font=font, fill=(255, 255, 255, 255),
                              stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
    return tile


def _watermark(src, rng, p):
    style = p.get('style', lambda: rng.choice(('text', 'text', 'logo')))
    text = p.get('text', lambda: rng.choice(_WATERMARK_TEXTS))
    position = p.get('position', lambda: rng.choice(sorted(WATERMARK_SIZE)))
    size = p.get('size', lambda: round(rng.uniform(*WATERMARK_SIZE[position]), 3))
    opacity = p.get('opacity', lambda: round(rng.uniform(*WATERMARK_OPACITY), 2))
    base = src.flat
    px = max(6, round(min(base.size) * size))
    mark = _watermark_mark(style, text, px)
    if position == 'centre':
        mark = mark.rotate(30, resample=Image.Resampling.BICUBIC, expand=True)
    # Never larger than the photo: a shrunken mark is still a watermark, a clipped one may be nothing.
    limit = (base.width * 0.9, base.height * 0.9)
    if mark.width > limit[0] or mark.height > limit[1]:
        factor = min(limit[0] / mark.width, limit[1] / mark.height)
        mark = mark.resize((max(1, int(mark.width * factor)), max(1, int(mark.height * factor))),
                           Image.Resampling.LANCZOS)
    alpha = mark.getchannel('A').point([round(a * opacity) for a in range(256)])
    mark.putalpha(alpha)
    margin = round(min(base.size) * 0.03)
    where = {
        'centre': ((base.width - mark.width) // 2, (base.height - mark.height) // 2),
        'bottom-right': (base.width - mark.width - margin, base.height - mark.height - margin),
        'top-left': (margin, margin),
    }[position]
    layer = Image.new('RGBA', base.size, (0, 0, 0, 0))
    layer.paste(mark, (max(0, where[0]), max(0, where[1])))
    out = Image.alpha_composite(base.convert('RGBA'), layer).convert(base.mode)
    fmt, kwargs = _family(src)
    return _encode(out, fmt, **kwargs), fmt, ''


def _skewed(src, rng, p):
    angle = p.get('angle', lambda: round(rng.choice((-1, 1)) * rng.uniform(*SKEW_ANGLE), 2))
    fill = p.get('fill', lambda: 'white')
    base = src.flat
    value = BORDER_COLOURS[fill]
    out = base.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True,
                      fillcolor=value if base.mode == 'L' else (value,) * 3)
    fmt, kwargs = _family(src)
    return _encode(out, fmt, **kwargs), fmt, f'-{angle:+.1f}'


def _exif_rotated(src, rng, p):
    orientation = p.get('orientation', lambda: rng.choice(EXIF_ORIENTATIONS))
    if orientation not in _STORE_TRANSPOSE:
        raise ValueError(f'exif-rotated orientation must be 3, 6 or 8, not {orientation}')
    exif = Image.Exif()
    exif[_ORIENTATION_TAG] = orientation
    fmt, kwargs = _family(src)
    stored = src.upright.transpose(_STORE_TRANSPOSE[orientation])
    return _encode(stored, fmt, exif=exif.tobytes(), **kwargs), fmt, f'-o{orientation}'


# --- lossless JPEG metadata removal ----------------------------------------------------------------------

_SOI, _EOI, _SOS, _APP0, _APP14, _COM = 0xD8, 0xD9, 0xDA, 0xE0, 0xEE, 0xFE


def _strip_jpeg(data: bytes, orientation: int = 1) -> bytes:
    """The JPEG with metadata segments dropped; the entropy-coded data is copied untouched.

    Walks the marker segments (including those between progressive scans) up to EOI, so trailing
    data after EOI (MPF secondary images, vendor trailers) goes too.
    """
    if data[:2] != b'\xff\xd8':
        raise ValueError('not a JPEG stream')
    out = bytearray(b'\xff\xd8')
    n = len(data)
    i = 2
    inserted_orientation = orientation == 1
    while i < n:
        if data[i] != 0xFF:
            raise ValueError(f'corrupt JPEG: expected a marker at byte {i}')
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker == _EOI:
            out += b'\xff\xd9'
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += bytes((0xFF, marker))
            continue
        length = int.from_bytes(data[i:i + 2], 'big')
        segment = data[i - 2:i + length]
        i += length
        is_metadata = (0xE1 <= marker <= 0xEF and marker != _APP14) or marker == _COM
        # JFXX APP0 carries a thumbnail, which is metadata; plain JFIF APP0 is a decoding hint.
        if marker == _APP0 and segment[4:9] != b'JFIF\x00':
            is_metadata = True
        if not inserted_orientation and marker != _APP0:
            # Keeps the photo upright; the JFIF APP0, if any, must stay first.
            exif = Image.Exif()
            exif[_ORIENTATION_TAG] = orientation
            payload = exif.tobytes()
            out += b'\xff\xe1' + (len(payload) + 2).to_bytes(2, 'big') + payload
            inserted_orientation = True
        if not is_metadata:
            out += segment
        if marker == _SOS:
            i = _skip_entropy_data(data, i, out)
    raise ValueError('corrupt JPEG: no EOI marker')


def _skip_entropy_data(data: bytes, i: int, out: bytearray) -> int:
    """Copy entropy-coded bytes (with stuffed 0xFF00 and RSTn) to ``out``; return the next marker's index."""
    n = len(data)
    start = i
    while True:
        j = data.find(b'\xff', i)
        if j < 0:
            raise ValueError('corrupt JPEG: scan data runs to end of file')
        k = j
        while k < n and data[k] == 0xFF:
            k += 1
        if k >= n:
            raise ValueError('corrupt JPEG: scan data runs to end of file')
        if data[k] == 0x00 or 0xD0 <= data[k] <= 0xD7:
            i = k + 1
            continue
        out += data[start:j]
        return j


_GENERATORS: dict[str, Callable] = {
    'identical': _identical,
    'metadata-stripped': _metadata_stripped,
    'pixel-identical-png': _pixel_identical_png,
    'format-tiff': _format_tiff,
    'resized': _resized,
    'recompressed': _recompressed,
    'format-changed': _format_changed,
    'colour-changed': _colour_changed,
    'greyscale': _greyscale,
    'rotated-90': _rotated(90),
    'rotated-180': _rotated(180),
    'rotated-270': _rotated(270),
    'mirrored': _mirrored,
    'cropped': _cropped,
    'bordered': _bordered,
    'caption-strip': _caption_strip,
    'watermark': _watermark,
    'skewed': _skewed,
    'exif-rotated': _exif_rotated,
    'downscaled': _downscaled,
    'upscaled-lanczos': _upscaled('lanczos'),
    'upscaled-bicubic': _upscaled('bicubic'),
    'upscaled-sharpened': _upscaled('sharpened'),
}


def _r(pair: tuple[float, float], fmt: str = '.2f') -> str:
    return f'{pair[0]:{fmt}}-{pair[1]:{fmt}}'


_DESCRIPTIONS = {
    'identical': 'byte-for-byte copy of the source file',
    'metadata-stripped': 'same pixels with EXIF/XMP/ICC/IPTC/comments removed '
                         '(JPEG: segments dropped without re-encoding; other formats: PNG of the pixels)',
    'pixel-identical-png': 'the decoded pixels re-saved as PNG (lossless)',
    'format-tiff': 'the decoded pixels re-saved as uncompressed TIFF (lossless)',
    'resized': f'Lanczos rescan/re-export at scale {_r(RESIZE_DOWN)} or {_r(RESIZE_UP)}, '
               f'JPEG quality {RESIZE_QUALITY[0]}-{RESIZE_QUALITY[1]}',
    'recompressed': f'same size re-saved as JPEG quality {RECOMPRESS_QUALITY[0]}-{RECOMPRESS_QUALITY[1]}',
    'format-changed': f'converted to lossy WebP quality {WEBP_QUALITY} (JPEG q90 if WebP is unavailable)',
    'colour-changed': f'colour-corrected rescan: one to three of '
                      f'gamma {_r(GAMMA_RANGES[0])}/{_r(GAMMA_RANGES[1])}, '
                      f'saturation x{_r(SATURATION_RANGES[0])}/{_r(SATURATION_RANGES[1])}, '
                      f'warm/cool cast of {_r(CAST_STRENGTH)}',
    'greyscale': f'converted to greyscale (luma), JPEG quality {GREYSCALE_QUALITY}',
    'rotated-90': 'rotated 90 degrees clockwise (exact)',
    'rotated-180': 'rotated 180 degrees (exact)',
    'rotated-270': 'rotated 270 degrees clockwise, i.e. 90 counter-clockwise (exact)',
    'mirrored': 'flipped left-right (exact)',
    'cropped': f'cropped to {_r(CROP_AREA)} of the area at a random position',
    'bordered': f'white, black or grey scanner border of {_r(BORDER_SIDE)} per side, sides possibly unequal',
    'caption-strip': f'solid strip of {_r(CAPTION_HEIGHT)} of the height added at the bottom, with a caption',
    'watermark': f'semi-transparent text or logo, opacity {_r(WATERMARK_OPACITY)}, '
                 'centred and tilted or in a corner',
    'skewed': f'rotated by {_r(SKEW_ANGLE, ".1f")} degrees either way on an expanded white canvas '
              '(a crooked scan)',
    'exif-rotated': 'pixels stored turned with an EXIF Orientation (6, 8 or 3) that displays them upright',
    'downscaled': f'Lanczos reduction to {_r(RESIZE_DOWN)}, '
                  f'JPEG quality {RESIZE_QUALITY[0]}-{RESIZE_QUALITY[1]}',
    'upscaled-lanczos': f'Lanczos upscale by {_r(UPSCALE)} (long side at most {UPSCALE_MAX_LONG})',
    'upscaled-bicubic': f'bicubic upscale by {_r(UPSCALE)} (long side at most {UPSCALE_MAX_LONG})',
    'upscaled-sharpened': f'bicubic upscale by {_r(UPSCALE)}, then an unsharp mask (radius '
                          f'{SHARPEN["radius"]}, {SHARPEN["percent"]}%)',
}
