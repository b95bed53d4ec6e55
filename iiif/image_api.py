"""IIIF Image API 3.0 core: request parsing, tile pyramids and region rendering with libvips.

Plain Python (no Django): iiif.tiles stores what this makes, iiif.views serves it.

The image a IIIF URL addresses is the *upright* original (EXIF orientation applied, alpha flattened on
white, CMYK and 16-bit taken to 8-bit sRGB or grey), the same picture the previews show.

Two ways to a tile:
  make_pyramid()  one streamed pass of libvips over the original (``dzsave``, IIIF 3 layout, access
                  "sequential": a few rows of tiles in memory at each level) writes every tile of every
                  level, plus the whole image at the small sizes listed in info.json ("sizes");
  render()        any other region/size (IIIF level 1 and a bit more): the original decoded at the
                  smallest scale that serves (libjpeg shrink-on-load), cropped and resized.
Requests are reduced to integers, ``Request(x, y, w, h, out_w, out_h)``, so one tile has one storage key
however the URL spelled it ("full" or "0,0,W,H", "max" or "W,H").
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyvips

TILE_SIZE = 512
JPEG_QUALITY = 85
MAX_AREA = 4096 * 4096  # the largest response: "max" of a bigger region is scaled down to this
SIZES_MAX_AREA = 2048 * 2048  # the whole image at these pyramid levels is listed in info.json "sizes"
CONTEXT = "http://iiif.io/api/image/3/context.json"
PROFILE = "level1"
EXTRA_FEATURES = ["regionByPct", "sizeByPct", "sizeByConfinedWh"]


class IIIFError(Exception):
    """A request that cannot be answered: status is the HTTP status the spec asks for (400 for a bad
    request, 501 for a feature not implemented, 422 for an original that cannot be decoded)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    x: int
    y: int
    w: int
    h: int
    out_w: int
    out_h: int

    @property
    def key(self) -> str:
        """The request's canonical name, the same for every spelling of it."""
        return f"{self.x},{self.y},{self.w},{self.h}/{self.out_w},{self.out_h}"


# --------------------------------------------------------------------------- the tile grid

def scale_factors(width: int, height: int, tile: int = TILE_SIZE) -> list[int]:
    """1, 2, 4, ... until the whole image fits one tile: the levels libvips' dzsave writes."""
    factors = [1]
    while max(math.ceil(width / factors[-1]), math.ceil(height / factors[-1])) > tile:
        factors.append(factors[-1] * 2)
    return factors


def level_size(width: int, height: int, factor: int) -> tuple[int, int]:
    return math.ceil(width / factor), math.ceil(height / factor)


def sizes(width: int, height: int, tile: int = TILE_SIZE) -> list[tuple[int, int]]:
    """The whole-image sizes make_pyramid() writes, smallest first."""
    out = []
    for factor in scale_factors(width, height, tile):
        w, h = level_size(width, height, factor)
        if w * h <= SIZES_MAX_AREA:
            out.append((w, h))
    return sorted(out)


def info(base_url: str, width: int, height: int, tile: int = TILE_SIZE) -> dict:
    return {
        "@context": CONTEXT,
        "id": base_url,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": PROFILE,
        "width": width,
        "height": height,
        "maxArea": MAX_AREA,
        "sizes": [{"width": w, "height": h} for w, h in sizes(width, height, tile)],
        "tiles": [{"width": tile, "height": tile, "scaleFactors": scale_factors(width, height, tile)}],
        "extraFeatures": EXTRA_FEATURES,
        "preferredFormats": ["jpg"],
    }


def in_pyramid(req: Request, width: int, height: int, tile: int = TILE_SIZE) -> bool:
    """Whether make_pyramid() writes this request (a tile of a level, or one of the listed sizes)."""
    if (req.x, req.y, req.w, req.h) == (0, 0, width, height) and (req.out_w, req.out_h) in sizes(
        width, height, tile
    ):
        return True
    for factor in scale_factors(width, height, tile):
        step = tile * factor
        if req.x % step or req.y % step:
            continue
        if (req.w, req.h) != (min(step, width - req.x), min(step, height - req.y)):
            continue
        if (req.out_w, req.out_h) == (math.ceil(req.w / factor), math.ceil(req.h / factor)):
            return True
    return False


# --------------------------------------------------------------------------- parsing

_NUMBER = r"\d+(?:\.\d+)?"
_XYWH = re.compile(rf"^({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})$")


def _region(text: str, width: int, height: int) -> tuple[int, int, int, int]:
    if text == "full":
        return 0, 0, width, height
    if text == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    pct = text.startswith("pct:")
    match = _XYWH.match(text[4:] if pct else text)
    if not match:
        raise IIIFError(400, f"region {text!r} is not full, square, x,y,w,h or pct:x,y,w,h")
    values = [float(v) for v in match.groups()]
    if pct:
        x, y = round(values[0] * width / 100), round(values[1] * height / 100)
        w, h = round(values[2] * width / 100), round(values[3] * height / 100)
    else:
        if any(not v.isdigit() for v in match.groups()):
            raise IIIFError(400, f"region {text!r}: pixel values must be whole numbers")
        x, y, w, h = (int(v) for v in values)
    if w <= 0 or h <= 0:
        raise IIIFError(400, f"region {text!r} has no width or height")
    if x >= width or y >= height:
        raise IIIFError(400, f"region {text!r} lies outside the image ({width}x{height})")
    return x, y, min(w, width - x), min(h, height - y)


def _fit_area(w: int, h: int, area: int) -> tuple[int, int]:
    if w * h <= area:
        return w, h
    scale = math.sqrt(area / (w * h))
    return max(1, math.floor(w * scale)), max(1, math.floor(h * scale))


def _size(text: str, rw: int, rh: int) -> tuple[int, int]:
    if text.startswith("^"):
        raise IIIFError(501, "upscaling (^) is not supported")
    if text == "max":
        return _fit_area(rw, rh, MAX_AREA)
    if text.startswith("pct:"):
        try:
            pct = float(text[4:])
        except ValueError:
            raise IIIFError(400, f"size {text!r}: the percentage is not a number")
        if not 0 < pct <= 100:
            raise IIIFError(400, f"size {text!r}: the percentage must be above 0 and at most 100")
        w, h = max(1, round(rw * pct / 100)), max(1, round(rh * pct / 100))
    else:
        confined = text.startswith("!")
        match = re.fullmatch(r"(\d*),(\d*)", text[1:] if confined else text)
        if not match or not (match.group(1) or match.group(2)) or (confined and not all(match.groups())):
            raise IIIFError(400, f"size {text!r} is not max, w,, ,h, w,h, !w,h or pct:n")
        w = int(match.group(1)) if match.group(1) else None
        h = int(match.group(2)) if match.group(2) else None
        if confined:
            scale = min(w / rw, h / rh)
            w, h = max(1, math.floor(rw * scale)), max(1, math.floor(rh * scale))
        elif w is None:
            w = max(1, round(rw * h / rh))
        elif h is None:
            h = max(1, round(rh * w / rw))
    if w == 0 or h == 0:
        raise IIIFError(400, f"size {text!r} has no width or height")
    if w > rw or h > rh:
        raise IIIFError(400, f"size {text!r} is larger than the region ({rw}x{rh}); upscaling needs ^")
    if w * h > MAX_AREA:
        raise IIIFError(400, f"size {text!r} is above the largest size served ({MAX_AREA} pixels)")
    return w, h


def parse(region: str, size: str, rotation: str, quality: str, fmt: str, width: int, height: int) -> Request:
    """The request in integers, or IIIFError saying what is wrong with it."""
    x, y, w, h = _region(region, width, height)
    out_w, out_h = _size(size, w, h)
    if rotation not in ("0", "0.0"):
        if not re.fullmatch(r"!?\d+(\.\d+)?", rotation):
            raise IIIFError(400, f"rotation {rotation!r} is not a number of degrees")
        raise IIIFError(501, f"rotation {rotation!r} is not supported (only 0)")
    if quality not in ("default", "color"):
        status = 501 if quality in ("gray", "bitonal") else 400
        raise IIIFError(status, f"quality {quality!r} is not supported")
    if fmt not in ("jpg",):
        raise IIIFError(501, f"format {fmt!r} is not supported (only jpg)")
    return Request(x, y, w, h, out_w, out_h)


# --------------------------------------------------------------------------- decoding

def _message(exc: pyvips.Error) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _orientation(image) -> int:
    try:
        return int(image.get("orientation")) if image.get_typeof("orientation") else 1
    except pyvips.Error:
        return 1


def _upright(image):
    """The original as the previews show it: 8-bit sRGB or grey, alpha on white, EXIF orientation."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.interpretation == "cmyk":
        image = image.icc_transform("srgb", input_profile="cmyk", embedded=True)
    elif image.format != "uchar" or image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("b-w" if image.bands == 1 else "srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands not in (1, 3):
        image = image.extract_band(0, n=3 if image.bands > 3 else 1)
    return image.autorot()


def open_upright(path: str | os.PathLike, *, shrink: int = 1):
    """The upright original, streamed (sequential access) unless a rotation needs it whole; for a JPEG,
    shrink (1, 2, 4 or 8) makes libjpeg decode it at that fraction."""
    path = os.fspath(path)
    try:
        header = pyvips.Image.new_from_file(path)
        loader = header.get("vips-loader") if header.get_typeof("vips-loader") else ""
        options = {"shrink": shrink} if shrink > 1 and loader.startswith("jpegload") else {}
        # A rotated picture is read out of order: libvips then decodes it once, to disc when it is large.
        access = "sequential" if _orientation(header) in (1, 2, 4) else "random"
        return _upright(pyvips.Image.new_from_file(path, access=access, fail_on="warning", **options))
    except pyvips.Error as exc:
        raise IIIFError(422, f"the original cannot be decoded: {_message(exc)}")


def dimensions(path: str | os.PathLike) -> tuple[int, int]:
    """The upright width and height, from the header alone."""
    try:
        header = pyvips.Image.new_from_file(os.fspath(path))
    except pyvips.Error as exc:
        raise IIIFError(422, f"the original cannot be decoded: {_message(exc)}")
    if _orientation(header) in (5, 6, 7, 8):
        return header.height, header.width
    return header.width, header.height


def _jpeg(image) -> bytes:
    return image.jpegsave_buffer(Q=JPEG_QUALITY, keep="none")


def render(path: str | os.PathLike, req: Request, width: int, height: int) -> bytes:
    """One request rendered from the original: decoded at the smallest JPEG scale that keeps the wanted
    size, cropped (streamed down to the region's last row) and resized to exactly out_w x out_h."""
    ratio = min(req.w / req.out_w, req.h / req.out_h)
    shrink = next((s for s in (8, 4, 2) if s <= ratio), 1)
    try:
        image = open_upright(path, shrink=shrink)
        sx, sy = image.width / width, image.height / height
        left, top = math.floor(req.x * sx), math.floor(req.y * sy)
        right = min(image.width, max(left + 1, math.ceil((req.x + req.w) * sx)))
        bottom = min(image.height, max(top + 1, math.ceil((req.y + req.h) * sy)))
        part = image.crop(left, top, right - left, bottom - top)
        if (part.width, part.height) != (req.out_w, req.out_h):
            part = part.resize(req.out_w / part.width, vscale=req.out_h / part.height)
            if (part.width, part.height) != (req.out_w, req.out_h):
                part = part.gravity("north-west", req.out_w, req.out_h, extend="copy")
        return _jpeg(part)
    except pyvips.Error as exc:
        raise IIIFError(422, f"the original cannot be decoded: {_message(exc)}")


# --------------------------------------------------------------------------- the pyramid

def _level_tiles(width: int, height: int, factor: int, tile: int) -> Iterator[Request]:
    step = tile * factor
    for y in range(0, height, step):
        for x in range(0, width, step):
            w, h = min(step, width - x), min(step, height - y)
            yield Request(x, y, w, h, math.ceil(w / factor), math.ceil(h / factor))


def _dz_path(root: str, req: Request, width: int, height: int) -> str:
    whole = (req.x, req.y, req.w, req.h) == (0, 0, width, height)
    region = "full" if whole else f"{req.x},{req.y},{req.w},{req.h}"
    return os.path.join(root, region, f"{req.out_w},{req.out_h}", "0", "default.jpg")


def make_pyramid(path: str | os.PathLike, outdir: str, tile: int = TILE_SIZE) -> dict:
    """Write every tile of every level, and the listed whole-image sizes, under outdir as
    ``<x>,<y>,<w>,<h>/<out_w>,<out_h>.jpg`` (Request.key); returns {"width", "height", "tile", "files"}
    where files maps each key to its file. One streamed decode; memory stays a few rows of tiles."""
    image = open_upright(path)
    width, height = image.width, image.height
    work = os.path.join(outdir, "dz")
    try:
        image.dzsave(
            work, layout="iiif3", tile_size=tile, overlap=0, suffix=f".jpg[Q={JPEG_QUALITY},keep=none]",
            id="mastercopy", keep="none",
        )
    except pyvips.Error as exc:
        raise IIIFError(422, f"the original cannot be decoded: {_message(exc)}")
    files = {}
    for factor in scale_factors(width, height, tile):
        for req in _level_tiles(width, height, factor, tile):
            files[req.key] = _dz_path(work, req, width, height)
    for w, h in sizes(width, height, tile):
        req = Request(0, 0, width, height, w, h)
        if req.key not in files:
            files[req.key] = _whole_level(work, width, height, w, h, tile, outdir)
    missing = [key for key, file in files.items() if not os.path.exists(file)]
    if missing:  # dzsave's grid is not the one info.json announces: a libvips change, never silently
        raise RuntimeError(f"libvips wrote no tile for {missing[:3]} ({len(missing)} missing)")
    return {"width": width, "height": height, "tile": tile, "files": files}


def _whole_level(work: str, width: int, height: int, w: int, h: int, tile: int, outdir: str) -> str:
    """The whole image at a level's size, joined from that level's tiles (no second decode)."""
    factor = next(f for f in scale_factors(width, height, tile) if level_size(width, height, f) == (w, h))
    tiles = list(_level_tiles(width, height, factor, tile))
    across = math.ceil(width / (tile * factor))
    images = [pyvips.Image.new_from_file(_dz_path(work, req, width, height)) for req in tiles]
    joined = pyvips.Image.arrayjoin(images, across=across)
    out = os.path.join(outdir, f"whole-{w}x{h}.jpg")
    joined.crop(0, 0, w, h).jpegsave(out, Q=JPEG_QUALITY, keep="none")
    return out
