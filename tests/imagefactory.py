"""Synthesise awkward test images: smooth content with structure, so hashes are stable."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageDraw

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"


def scene(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """An asymmetric RGB 'photo': gradients plus a few shapes, so rotations and flips hash differently."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * x / width
    g = 255 * (y / height) ** 1.5
    b = 128 + 100 * np.sin(x / width * 7 + seed) * np.cos(y / height * 3)
    arr = np.clip(np.dstack([r, g, b]), 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = rng.integers(0, width * 3 // 4), rng.integers(0, height * 3 // 4)
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.ellipse((x0, y0, x0 + width // 5, y0 + height // 4), fill=colour)
    draw.rectangle((width // 10, height // 10, width // 3, height // 5), fill=(250, 20, 20))
    return im


def save(im: Image.Image, path: Path, **kwargs) -> Path:
    im.save(path, **kwargs)
    return path


def with_exif_orientation(im: Image.Image, path: Path, orientation: int) -> Path:
    """Store `im` rotated so that a viewer honouring EXIF `orientation` shows `im` upright again."""
    undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
            2: Image.Transpose.FLIP_LEFT_RIGHT}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Acme"
    exif[0x0110] = "Acme Scan 9000"
    im.transpose(undo).save(path, quality=95, exif=exif.tobytes())
    return path


def grey16(width: int = 320, height: int = 240) -> Image.Image:
    arr = (np.asarray(scene(width, height).convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    return Image.fromarray(arr)


def rgb16_png(path: Path, width: int = 320, height: int = 240) -> Path:
    """48-bit RGB PNG written by hand (Pillow cannot write 16-bit RGB)."""
    arr = np.asarray(scene(width, height), dtype=np.uint16) * 257
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def rgb16_tiff(path: Path, width: int = 320, height: int = 240) -> Path:
    """48-bit RGB uncompressed little-endian TIFF written by hand."""
    data = (np.asarray(scene(width, height), dtype=np.uint16) * 257).astype("<u2").tobytes()
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, None), (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    ifd_size = 2 + 12 * len(entries) + 4
    bps_off = 8 + ifd_size
    data_off = bps_off + 6
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, typ, count, value in entries:
        value = {258: bps_off, 273: data_off}.get(tag, value)
        packed = struct.pack("<HI", value, 0)[:4] if typ == 3 and count == 1 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, typ, count) + packed
    out += struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16) + data
    path.write_bytes(bytes(out))
    return path


def cmyk_profile_bytes() -> bytes | None:
    """A CMYK ICC profile if the system has one (none on this machine: /usr/share/color/icc is absent)."""
    for folder in (Path("/usr/share/color/icc"), Path("/usr/share/ghostscript"), Path("/usr/share/icc")):
        for p in sorted(folder.rglob("*.ic[cm]")) if folder.exists() else []:
            try:
                if ImageCms.ImageCmsProfile(str(p)).profile.xcolor_space.strip() == "CMYK":
                    return p.read_bytes()
            except (OSError, ImageCms.PyCMSError, AttributeError):
                continue
    return None


def srgb_profile_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def multiframe(path: Path, fmt: str, frames: int = 3) -> Path:
    ims = [scene(200, 150, seed=i) for i in range(frames)]
    if fmt == "GIF":
        ims = [im.convert("P") for im in ims]
    ims[0].save(path, format=fmt, save_all=True, append_images=ims[1:])
    return path


def jpeg_bytes(im: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def big_tiff(path: Path, width: int, height: int) -> Path:
    """A large uncompressed RGB TIFF written strip by strip so the writer itself stays small in memory."""
    tile = np.asarray(scene(1000, 1000), dtype=np.uint8)
    rows_per_strip = 64
    strip_bytes = width * 3 * rows_per_strip
    n_strips = -(-height // rows_per_strip)
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, n_strips, None), (277, 3, 1, 3), (278, 4, 1, rows_per_strip),
               (279, 4, n_strips, None), (284, 3, 1, 1)]
    ifd_size = 2 + 12 * len(entries) + 4
    bps_off = 8 + ifd_size
    offs_off = bps_off + 6
    counts_off = offs_off + 4 * n_strips
    data_off = counts_off + 4 * n_strips
    offsets = [data_off + i * strip_bytes for i in range(n_strips)]
    counts = [width * 3 * min(rows_per_strip, height - i * rows_per_strip) for i in range(n_strips)]
    with open(path, "wb") as f:
        f.write(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
        for tag, typ, count, value in entries:
            value = {258: bps_off, 273: offs_off, 279: counts_off}.get(tag, value)
            packed = struct.pack("<HI", value, 0)[:4] if typ == 3 and count == 1 else struct.pack("<I", value)
            f.write(struct.pack("<HHI", tag, typ, count) + packed)
        f.write(struct.pack("<I", 0) + struct.pack("<HHH", 8, 8, 8))
        f.write(struct.pack(f"<{n_strips}I", *offsets) + struct.pack(f"<{n_strips}I", *counts))
        reps = -(-width // 1000)
        for i in range(n_strips):
            y0 = i * rows_per_strip
            ys = range(y0, min(height, y0 + rows_per_strip))
            rows = [np.tile(tile[y % 1000], (reps, 1))[:width] for y in ys]
            f.write(np.stack(rows).tobytes())
    return path
