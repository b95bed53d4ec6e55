"""Peak memory of fingerprinting the largest image the import admits, for each kind of file.

Writes one image of each kind at the pixel limit (MASTERCOPY_MAX_PIXELS, 400 MP by default; WebP at its
format maximum of 16383 x 16383), plus a 40 MP RGBA PNG (the largest that decodes whole by design) and an
interlaced RGBA PNG just under the decode ceiling (the largest that decodes whole at all), into a
temporary folder; then, each in a fresh process, runs dedup.signals.compute_signals (what the worker's
fingerprint task does) and pixel_digest (what verification does for exact-copy candidates), and prints
each process's peak RSS. Exits 1 when a peak is above --ceiling-mb (the worker's budget: the decode
ceiling MASTERCOPY_DECODE_MAX_BYTES plus the interpreter, numpy, scipy and OpenCV).

An image that would need more than the decode ceiling and cannot be shrunk while read (an interlaced
PNG) is refused with a message instead: that counts as bounded, and the message is printed.

    .venv/bin/python bench/memory.py                 # the full sizes: ~5 minutes, ~2 GB of disk at most
    .venv/bin/python bench/memory.py --megapixels 100
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_CHILD = """
import json, sys, time
sys.path.insert(0, {repo!r})
from dedup import signals
path, what, ceiling = sys.argv[1], sys.argv[2], int(sys.argv[3])
started, note = time.perf_counter(), ""
try:
    with open(path, "rb") as f:
        if what == "signals":
            sig, _, _ = signals.compute_signals(f, max_decode_bytes=ceiling)
            note = ", ".join(sig.notes)
        else:
            signals.pixel_digest(f, max_decode_bytes=ceiling)
except signals.ImageDecodeError as exc:
    note = "refused: " + str(exc).split(": ", 1)[-1]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent (the bench itself).
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"rss_mb": hwm / 1024,
                  "seconds": time.perf_counter() - started, "note": note}}))
"""


def make_images(folder, megapixels, decode_max_bytes):
    """(label, path) of each kind, written with libvips (streamed) or Pillow (GIF), in little memory."""
    import pyvips
    from PIL import Image

    side = int((megapixels * 1e6) ** 0.5)
    from dedup.signals import INTERLACED_FACTOR

    whole_side = int((decode_max_bytes / 4 / INTERLACED_FACTOR) ** 0.5) - 1
    webp_side = min(side, 16383)

    def solid(width, height, bands, fmt="uchar", value=None):
        value = value or [40, 120, 200, 160][:bands]
        scale = 257 if fmt == "ushort" else 1
        return (pyvips.Image.black(width, height, bands=bands) + [v * scale for v in value]).cast(fmt)

    kinds = [
        ("JPEG RGB", "jpeg.jpg", lambda p: solid(side, side, 3).jpegsave(p, Q=90)),
        ("PNG RGB", "rgb.png", lambda p: solid(side, side, 3).pngsave(p, compression=6)),
        ("PNG RGBA", "rgba.png", lambda p: solid(side, side, 4).pngsave(p, compression=6)),
        (
            "PNG 16-bit RGB",
            "rgb16.png",
            lambda p: solid(side, side, 3, "ushort").copy(interpretation="rgb16").pngsave(p, compression=6),
        ),
        ("PNG palette", "palette.png", lambda p: solid(side, side, 3).pngsave(p, palette=True)),
        (
            "PNG RGBA interlaced",
            "interlaced.png",
            lambda p: solid(side, side, 4).pngsave(p, interlace=True, compression=6),
        ),
        ("TIFF RGB LZW", "lzw.tif", lambda p: solid(side, side, 3).tiffsave(p, compression="lzw")),
        (
            "TIFF RGB tiled deflate",
            "tiled.tif",
            lambda p: solid(side, side, 3).tiffsave(p, compression="deflate", tile=True),
        ),
        ("TIFF RGB uncompressed", "raw.tif", lambda p: solid(side, side, 3).tiffsave(p)),
        ("TIFF 16-bit grey", "grey16.tif", lambda p: solid(side, side, 1, "ushort").tiffsave(p)),
        ("WebP RGBA", "rgba.webp", lambda p: solid(webp_side, webp_side, 4).webpsave(p, lossless=True)),
        ("GIF palette", "palette.gif", lambda p: Image.new("P", (side, side), 7).save(p, "GIF")),
        ("PNG RGBA 40 MP (decoded whole)", "rgba40.png", lambda p: solid(6324, 6324, 4).pngsave(p)),
        (
            "PNG RGBA interlaced, at the ceiling",  # the largest image decoded whole (Pillow: 4 bytes/px)
            "interlaced-ceiling.png",
            lambda p: solid(whole_side, whole_side, 4).pngsave(p, interlace=True),
        ),
    ]
    made = []
    for label, name, write in kinds:
        path = os.path.join(folder, name)
        started = time.perf_counter()
        write(path)
        seconds = time.perf_counter() - started
        print(f"  wrote {label}: {os.path.getsize(path) / 1e6:.1f} MB in {seconds:.0f} s", file=sys.stderr)
        made.append((label, path))
    return made


def measure(path, what, ceiling):
    child = _CHILD.format(repo=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", child, path, what, str(ceiling)], capture_output=True, text=True, timeout=900
    )
    if out.returncode:
        return {"rss_mb": float("nan"), "seconds": 0, "note": "crashed: " + out.stderr.strip()[-300:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    limit = int(os.environ.get("MASTERCOPY_MAX_PIXELS", 400_000_000))
    parser.add_argument("--megapixels", type=float, default=limit / 1e6)
    parser.add_argument("--ceiling-mb", type=float, default=1024, help="the worker's RSS budget (MB)")
    parser.add_argument(
        "--decode-max-bytes",
        type=int,
        default=int(os.environ.get("MASTERCOPY_DECODE_MAX_BYTES", 768 * 1024**2)),
        help="MASTERCOPY_DECODE_MAX_BYTES (default 768 MiB)",
    )
    args = parser.parse_args()
    over = []
    with tempfile.TemporaryDirectory(prefix="mastercopy-memory-") as folder:
        print(f"writing the images ({args.megapixels:.0f} MP) ...", file=sys.stderr)
        images = make_images(folder, args.megapixels, args.decode_max_bytes)
        print(f"{'kind':32} {'fingerprint MB':>15} {'pixel digest MB':>16}  note")
        for label, path in images:
            row = {what: measure(path, what, args.decode_max_bytes) for what in ("signals", "digest")}
            sig, dig = row["signals"], row["digest"]
            note = sig["note"] + (f" | digest: {dig['note']}" if dig["note"] not in ("", sig["note"]) else "")
            print(f"{label:32} {sig['rss_mb']:15.0f} {dig['rss_mb']:16.0f}  {note}", flush=True)
            if not max(sig["rss_mb"], dig["rss_mb"]) <= args.ceiling_mb:
                over.append(label)
    if over:
        print(f"above the ceiling of {args.ceiling_mb:.0f} MB: {', '.join(over)}")
        return 1
    print(f"every peak is within the ceiling of {args.ceiling_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
