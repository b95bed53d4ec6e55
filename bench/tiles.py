"""IIIF tiling of a 300-megapixel scan: libvips (iiif.image_api, what the app runs) against Pillow doing
the same work, in the same run, each in a fresh process.

No bench-only dependency: pyvips, pyvips-binary (which bundles libvips) and Pillow are the project's own
(`make install`, or `pip install pyvips pyvips-binary Pillow`); the bench says so and exits 2 when one is
missing.

    .venv/bin/python bench/tiles.py                      # 20000 x 15000 RGB TIFF (900 MB), ~3-5 minutes
    .venv/bin/python bench/tiles.py --width 8000 --height 6000     # a quicker look

The scan (uncompressed strip TIFF, like a scanner writes: a shared photo enlarged, with grain so tiles
compress like a real scan) is made once into bench/.cache/tiles/. Measured, each in its own process:

  pyramid    every 512 px tile of every level as JPEG q85 (libvips: one streamed dzsave pass, what
             iiif.tiles.make_pyramid runs before it uploads; Pillow: load, crop and save each level's
             tiles, reduce by 2, repeat): wall time, peak RSS (VmHWM), and the time the first tile was
             written (a watcher thread polls the output folder)
  on demand  one tile rendered straight from the original in a fresh process, as a tile request does
             outside the pyramid: the top level (the whole scan in one 512 px tile, what a viewer asks
             for first) and a full-resolution tile at the scan's centre
  24 MP      the pyramid of a 6000 x 4000 JPEG: what a request waits for when it tiles an image
             inside the request (MASTERCOPY_IIIF_SYNC_PIXELS, 50 MP)

Goals (exit 1 when one is missed): libvips' pyramid at least 1.5x faster than Pillow's and within a
third of Pillow's peak memory and at most 768 MB (MASTERCOPY_DECODE_MAX_BYTES, the workers' budget);
its top-level tile on demand (a viewer's first request) within 10 s; the 24 MP pyramid within 3 s (an
absolute time: on this shared 2-core machine it took 1.85 s at load 7 and 3.1 s at load 13).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache" / "tiles"
PHOTOS = REPO.parent / "shared" / "data" / "photos"
sys.path.insert(0, str(REPO))

GOALS = {"speedup": 1.5, "memory_ratio": 1 / 3, "memory_mb": 768, "first_tile_s": 10.0, "sync_24mp_s": 3.0}

_CHILD = r"""
import json, math, os, sys, threading, time
sys.path.insert(0, {repo!r})
what, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
first = []
def watch(started):
    while not first:
        for root, _dirs, files in os.walk(out):
            if any(f.endswith(".jpg") for f in files):
                first.append(time.perf_counter() - started)
                return
        time.sleep(0.01)
started = time.perf_counter()
threading.Thread(target=watch, args=(started,), daemon=True).start()
files = 0
if what == "vips-pyramid":
    from iiif import image_api
    files = len(image_api.make_pyramid(path, out)["files"])
elif what == "pillow-pyramid":
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None
    level = Image.open(path)
    level.load()
    level = level.convert("RGB")
    factor, tile = 1, 512
    while True:
        for y in range(0, level.height, tile):
            for x in range(0, level.width, tile):
                box = (x, y, min(x + tile, level.width), min(y + tile, level.height))
                level.crop(box).save(os.path.join(out, f"{{factor}}-{{x}}-{{y}}.jpg"), quality=85)
                files += 1
        if level.width <= tile and level.height <= tile:
            break
        level, factor = level.reduce(2), factor * 2
elif what.startswith("vips-render-"):
    from iiif import image_api
    width, height = image_api.dimensions(path)
    if what == "vips-render-top":
        factor = image_api.scale_factors(width, height)[-1]
        req = image_api.Request(0, 0, width, height, math.ceil(width / factor), math.ceil(height / factor))
    else:
        x, y = (width // 2) // 512 * 512, (height // 2) // 512 * 512
        req = image_api.Request(x, y, 512, 512, 512, 512)
    with open(os.path.join(out, "tile.jpg"), "wb") as f:
        f.write(image_api.render(path, req, width, height))
    files = 1
seconds = time.perf_counter() - started
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": seconds, "first_tile_s": first[0] if first else seconds,
                  "rss_mb": hwm / 1024, "files": files}}))
"""


def _require():
    missing = [name for name in ("pyvips", "PIL") if importlib.util.find_spec(name) is None]
    if missing:
        print(f"missing: {', '.join(missing)} — install the project (make install) or "
              "pip install pyvips pyvips-binary Pillow", file=sys.stderr)
        sys.exit(2)
    try:
        import pyvips  # noqa: F401  (the binding imports, but libvips itself may be absent)
    except OSError as exc:
        print(f"libvips cannot be loaded ({exc}): pip install pyvips-binary", file=sys.stderr)
        sys.exit(2)


def make_scan(width: int, height: int) -> Path:
    """An uncompressed RGB strip TIFF of width x height: an enlarged photo with grain, streamed."""
    import pyvips

    path = CACHE / f"scan-{width}x{height}.tif"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"making {path.name} ({width * height / 1e6:.0f} MP) ...", flush=True)
    photos = sorted(p for p in PHOTOS.glob("*.jpg")) if PHOTOS.is_dir() else []
    if photos:
        base = pyvips.Image.thumbnail(str(photos[0]), 2000, height=1500, size="force")
        base = base.resize(width / base.width, vscale=height / base.height, kernel="linear")
    else:
        base = (pyvips.Image.xyz(width, height)[0] % 256).cast("uchar").bandjoin([128, 64])
    grain = pyvips.Image.gaussnoise(width, height, sigma=12)
    scan = (base.cast("float") + grain).cast("uchar").crop(0, 0, width, height)
    scan = scan.copy(interpretation="srgb")
    partial = path.with_suffix(".partial.tif")
    scan.tiffsave(str(partial), compression="none", tile=False)
    partial.rename(path)
    return path


def make_jpeg(width: int, height: int) -> Path:
    import pyvips

    path = CACHE / f"photo-{width}x{height}.jpg"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        noise = pyvips.Image.gaussnoise(width, height, mean=128, sigma=30)
        rgb = noise.bandjoin([noise.rot180(), noise.fliphor()]).cast("uchar").copy(interpretation="srgb")
        rgb.jpegsave(str(path), Q=90)
    return path


def run_child(what: str, path: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as out:
        result = subprocess.run(
            [sys.executable, "-c", _CHILD.format(repo=str(REPO)), what, str(path), out],
            capture_output=True, text=True, check=False,
        )
    if result.returncode:
        print(result.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{what} failed")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=20000)
    ap.add_argument("--height", type=int, default=15000)
    args = ap.parse_args()
    _require()
    scan = make_scan(args.width, args.height)
    photo = make_jpeg(6000, 4000)
    mp = args.width * args.height / 1e6
    print(f"scan: {scan} ({mp:.0f} MP, {scan.stat().st_size / 1e6:.0f} MB uncompressed TIFF); "
          f"cpus: {os.cpu_count()}", flush=True)

    vips = run_child("vips-pyramid", scan)
    print(f"libvips pyramid   {vips['seconds']:7.1f} s  peak {vips['rss_mb']:6.0f} MB  "
          f"first tile written {vips['first_tile_s']:5.1f} s  ({vips['files']} files)", flush=True)
    pillow = run_child("pillow-pyramid", scan)
    print(f"Pillow pyramid    {pillow['seconds']:7.1f} s  peak {pillow['rss_mb']:6.0f} MB  "
          f"first tile written {pillow['first_tile_s']:5.1f} s  ({pillow['files']} files)", flush=True)
    top = run_child("vips-render-top", scan)
    centre = run_child("vips-render-centre", scan)
    print(f"on demand (libvips, fresh process): top-level tile {top['seconds']:.1f} s / "
          f"{top['rss_mb']:.0f} MB, centre full-resolution tile {centre['seconds']:.1f} s / "
          f"{centre['rss_mb']:.0f} MB", flush=True)
    small = run_child("vips-pyramid", photo)
    print(f"24 MP JPEG pyramid (libvips) {small['seconds']:.2f} s, peak {small['rss_mb']:.0f} MB "
          f"({small['files']} files)", flush=True)

    speedup = pillow["seconds"] / vips["seconds"]
    memory_ratio = vips["rss_mb"] / pillow["rss_mb"]
    first = top["seconds"]  # what a viewer asks for first: the whole scan in one tile
    checks = [
        ("pyramid time: Pillow / libvips", speedup, f">= {GOALS['speedup']}", speedup >= GOALS["speedup"]),
        ("peak memory: libvips / Pillow", memory_ratio, f"<= {GOALS['memory_ratio']:.2f}",
         memory_ratio <= GOALS["memory_ratio"]),
        ("peak memory of libvips, MB", vips["rss_mb"], f"<= {GOALS['memory_mb']}",
         vips["rss_mb"] <= GOALS["memory_mb"]),
        ("first tile on demand, s", first, f"<= {GOALS['first_tile_s']}", first <= GOALS["first_tile_s"]),
        ("24 MP pyramid in the request, s", small["seconds"], f"<= {GOALS['sync_24mp_s']}",
         small["seconds"] <= GOALS["sync_24mp_s"]),
    ]
    print()
    print(f"{'measure':<34} {'libvips':>9} {'Pillow':>9} {'ratio':>7}")
    print(f"{'pyramid, s':<34} {vips['seconds']:9.1f} {pillow['seconds']:9.1f} {speedup:6.2f}x")
    print(f"{'peak RSS, MB':<34} {vips['rss_mb']:9.0f} {pillow['rss_mb']:9.0f} {memory_ratio:6.2f}x")
    print(f"{'first tile written, s':<34} {vips['first_tile_s']:9.1f} {pillow['first_tile_s']:9.1f} "
          f"{pillow['first_tile_s'] / vips['first_tile_s']:6.2f}x")
    print()
    for name, value, goal, ok in checks:
        print(f"goal {name:<34} {value:8.2f}  ({goal})  {'ok' if ok else 'MISSED'}")
    ok = all(check[3] for check in checks)
    print("SUMMARY: " + ("all goals met" if ok else "some goals missed"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
