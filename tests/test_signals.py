"""Unit tests for dedup.signals (plain pytest, no Django)."""
from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from dedup import signals as S
from tests import imagefactory as F


def _ih(h) -> int:
    return int(str(h), 16)


@pytest.fixture(scope="module")
def photo():
    return F.scene(800, 600)


def test_phash_dhash_identical_to_imagehash(tmp_path, photo):
    path = F.save(photo, tmp_path / "a.jpg", quality=92)
    sig, preview, thumb = S.compute_signals(path, derivatives=False)
    img = S.decode_for_hashing(path)
    assert sig.phash == _ih(imagehash.phash(img))
    assert sig.dhash == _ih(imagehash.dhash(img))
    assert sig.orient_phashes[0] == sig.phash
    assert preview is None and thumb is None
    got = (sig.width, sig.height, sig.format, sig.mode, sig.bit_depth, sig.frames)
    assert got == (800, 600, "JPEG", "RGB", 8, 1)


def test_identical_to_imagehash_on_real_photos():
    if not F.PHOTOS.exists():
        pytest.skip("shared photos absent")
    for path in sorted(F.PHOTOS.glob("wp_*.jpg"))[:4] + sorted(F.PHOTOS.glob("kodak_*.png"))[:2]:
        for derivatives in (False, True):
            sig, _, _ = S.compute_signals(path, derivatives=derivatives)
            img = S.decode_for_hashing(path, derivatives=derivatives)
            assert sig.phash == _ih(imagehash.phash(img)), path
            assert sig.dhash == _ih(imagehash.dhash(img)), path


def test_orientation_hashes_match_imagehash_of_transposed_image(tmp_path, photo):
    path = F.save(photo, tmp_path / "a.png")
    sig, _, _ = S.compute_signals(path, derivatives=False)
    img = S.decode_for_hashing(path)
    diffs = [S.hamming(sig.orient_phashes[i], _ih(imagehash.phash(img.transpose(op))))
             for i, op in enumerate(S.ORIENTATIONS) if op is not None]
    # Only Pillow's 8-bit rounding between its two resize passes can differ: a bit or two at most.
    assert max(diffs) <= 2, diffs
    assert len(set(sig.orient_phashes)) == 8


def test_rotated_copy_found_through_orient_phashes(tmp_path, photo):
    upright, _, _ = S.compute_signals(F.save(photo, tmp_path / "u.png"), derivatives=False)
    turned_path = F.save(photo.transpose(Image.Transpose.ROTATE_90), tmp_path / "r.png")
    turned, _, _ = S.compute_signals(turned_path, derivatives=False)
    assert S.hamming(upright.phash, turned.phash) > 10
    assert min(S.hamming(h, turned.phash) for h in upright.orient_phashes) <= 2


@pytest.mark.parametrize("orientation", [3, 6, 8, 2])
def test_exif_orientation_applied(tmp_path, photo, orientation):
    upright, _, _ = S.compute_signals(F.save(photo, tmp_path / "u.jpg", quality=95), derivatives=False)
    sideways, preview, _ = S.compute_signals(F.with_exif_orientation(photo, tmp_path / "s.jpg", orientation))
    assert sideways.exif_orientation == orientation
    assert (sideways.width, sideways.height) == (800, 600)
    assert S.hamming(upright.phash, sideways.phash) <= 2
    assert sideways.camera == "Acme Scan 9000"
    assert Image.open(io.BytesIO(preview)).size == (800, 600)


def test_pixel_digest_png_tiff_equal_jpeg_differs(tmp_path, photo):
    png = S.pixel_digest(F.save(photo, tmp_path / "a.png"))
    tif = S.pixel_digest(F.save(photo, tmp_path / "a.tif"))
    lzw = S.pixel_digest(F.save(photo, tmp_path / "b.tif", compression="tiff_lzw", dpi=(300, 300)))
    jpg = S.pixel_digest(F.save(photo, tmp_path / "a.jpg", quality=100))
    assert png == tif == lzw
    assert jpg != png
    with open(tmp_path / "a.png", "rb") as fh:
        sig, _, _ = S.compute_signals(fh, want_pixel_digest=True, derivatives=False)
    assert sig.pixel_digest == png


def test_pixel_digest_chunked_tiff_equals_png(tmp_path, monkeypatch):
    im = F.scene(700, 500)
    png = S.pixel_digest(F.save(im, tmp_path / "a.png"))
    monkeypatch.setattr(S, "CHUNK_BYTES", 700 * 3 * 37)  # force many odd-sized chunks
    tif = F.big_tiff(tmp_path / "s.tif", 700, 500)
    assert S.pixel_digest(tif) == S.pixel_digest(F.save(Image.open(tif), tmp_path / "s.png"))
    assert png != S.pixel_digest(tif)


def test_derivatives_sizes_and_jpeg(tmp_path):
    path = F.save(F.scene(3000, 2000), tmp_path / "big.jpg", quality=90)
    sig, preview, thumb = S.compute_signals(path)
    p, t = Image.open(io.BytesIO(preview)), Image.open(io.BytesIO(thumb))
    assert p.format == t.format == "JPEG"
    assert 1280 <= max(p.size) <= 2000
    assert max(t.size) == 256
    assert (sig.width, sig.height) == (3000, 2000)


def test_grey16_png_and_tiff(tmp_path):
    im = F.grey16()
    for name in ("g.png", "g.tif"):
        sig, _, _ = S.compute_signals(F.save(im, tmp_path / name), derivatives=False)
        assert sig.bit_depth == 16 and "16-bit reduced to 8-bit" in sig.notes
        ref = F.scene(320, 240).convert("L")
        assert S.hamming(sig.phash, _ih(imagehash.phash(ref))) <= 2


@pytest.mark.parametrize("maker", [F.rgb16_png, F.rgb16_tiff])
def test_rgb16(tmp_path, maker):
    sig, preview, _ = S.compute_signals(maker(tmp_path / "x"))
    assert sig.bit_depth == 16 and "16-bit reduced to 8-bit" in sig.notes
    assert S.hamming(sig.phash, _ih(imagehash.phash(F.scene(320, 240)))) <= 2
    assert Image.open(io.BytesIO(preview)).mode == "RGB"


def test_cmyk_without_profile(tmp_path, photo):
    path = F.save(photo.convert("CMYK"), tmp_path / "c.jpg", quality=95)
    sig, _, _ = S.compute_signals(path, derivatives=False)
    assert sig.mode == "CMYK" and any("naive CMYK" in n for n in sig.notes)
    assert S.hamming(sig.phash, _ih(imagehash.phash(photo))) <= 4


def test_cmyk_with_profile(tmp_path, photo):
    profile = F.cmyk_profile_bytes()
    path = tmp_path / "c.jpg"
    if profile is None:
        # No CMYK profile on this system: an RGB profile on CMYK data must fall back, noted, not crash.
        F.save(photo.convert("CMYK"), path, quality=95, icc_profile=F.srgb_profile_bytes())
        sig, _, _ = S.compute_signals(path, derivatives=False)
        assert any("unusable" in n for n in sig.notes)
        assert sig.icc_description
        return
    F.save(photo.convert("CMYK"), path, quality=95, icc_profile=profile)
    sig, _, _ = S.compute_signals(path, derivatives=False)
    assert "CMYK converted to sRGB via ICC profile" in sig.notes


def test_palette_with_and_without_transparency(tmp_path, photo):
    plain, _, _ = S.compute_signals(F.save(photo.convert("P"), tmp_path / "p.png"), derivatives=False)
    assert plain.mode == "P" and not plain.notes
    assert S.hamming(plain.phash, _ih(imagehash.phash(photo))) <= 4
    pal = photo.convert("P")
    pal.info["transparency"] = pal.getpixel((0, 0))
    trans, _, _ = S.compute_signals(F.save(pal, tmp_path / "t.png", transparency=pal.getpixel((0, 0))),
                                    derivatives=False)
    assert "alpha composited on white" in trans.notes


def test_alpha_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (300, 200), (255, 0, 0, 0))
    rgba.paste((0, 0, 0, 255), (100, 50, 200, 150))
    path = F.save(rgba, tmp_path / "a.png")
    sig, _, thumb = S.compute_signals(path)
    assert "alpha composited on white" in sig.notes
    img = S.decode_for_hashing(path)
    assert img.getpixel((5, 5)) == (255, 255, 255) and img.getpixel((150, 100)) == (0, 0, 0)
    la, _, _ = S.compute_signals(F.save(rgba.convert("LA"), tmp_path / "la.png"), derivatives=False)
    assert "alpha composited on white" in la.notes and la.phash == sig.phash


@pytest.mark.parametrize("fmt,ext", [("GIF", "gif"), ("TIFF", "tif")])
def test_multiframe_first_frame(tmp_path, fmt, ext):
    sig, _, _ = S.compute_signals(F.multiframe(tmp_path / f"m.{ext}", fmt), derivatives=False)
    assert sig.frames == 3 and "multi-frame: first of 3 used" in sig.notes
    assert S.hamming(sig.phash, _ih(imagehash.phash(F.scene(200, 150, seed=0)))) <= 6


def test_greyscale_and_one_bit(tmp_path, photo):
    grey, _, _ = S.compute_signals(F.save(photo.convert("L"), tmp_path / "g.png"))
    assert grey.mode == "L" and grey.phash == _ih(imagehash.phash(photo.convert("L")))
    assert len(grey.colorhash) == 11  # 14 bins x 3 bits, as imagehash prints it
    bw, _, thumb = S.compute_signals(F.save(photo.convert("1"), tmp_path / "b.png"))
    assert bw.bit_depth == 1 and Image.open(io.BytesIO(thumb)).mode == "L"


def test_colorhash_compatible(tmp_path, photo):
    sig, _, _ = S.compute_signals(F.save(photo, tmp_path / "a.png"), derivatives=False)
    assert str(imagehash.hex_to_flathash(sig.colorhash, 3)) == sig.colorhash
    assert imagehash.hex_to_flathash(sig.colorhash, 3) - imagehash.colorhash(photo) <= 2


def test_border_trim(tmp_path, photo):
    framed = Image.new("RGB", (1000, 760), (255, 255, 255))
    framed.paste(photo, (100, 80))
    sig, _, _ = S.compute_signals(F.save(framed, tmp_path / "f.jpg", quality=90), derivatives=False)
    plain, _, _ = S.compute_signals(F.save(photo, tmp_path / "p.png"), derivatives=False)
    assert sig.trim_box == pytest.approx((0.1, 80 / 760, 0.9, 680 / 760), abs=0.01)
    assert S.hamming(sig.trimmed_phash, plain.phash) <= 4
    assert plain.trim_box is None and plain.trimmed_phash is None


def test_crop_hashes_find_a_crop(tmp_path, photo):
    orig, _, _ = S.compute_signals(F.save(photo, tmp_path / "o.png"), derivatives=False)
    crop_path = F.save(photo.crop((0, 0, 680, 510)), tmp_path / "c.png")
    crop, _, _ = S.compute_signals(crop_path, derivatives=False)
    assert len(orig.crop_hashes) == len(S.CROP_REGIONS) == len(S.CROP_REGION_BLUR)
    assert S.hamming(orig.phash, crop.phash) > 8
    assert min(S.hamming(h, crop.phash) for h in orig.crop_hashes) <= 8


def test_unblurred_region_code_is_the_phash_of_the_region(photo):
    img = S._hash_image(photo)
    grey = img.convert("L")
    codes = S._crop_hashes(grey)
    for i, (box, blur) in enumerate(zip(S.CROP_REGIONS, S.CROP_REGION_BLUR, strict=True)):
        if blur:
            continue
        px = tuple(round(f * d) for f, d in zip(box, grey.size * 2, strict=True))
        assert S.hamming(codes[i], _ih(imagehash.phash(grey.crop(px)))) <= 8, box


def _real_photos(n):
    if not F.PHOTOS.exists():
        pytest.skip("shared photos absent")
    return sorted(F.PHOTOS.glob("kodak_*.png"))[:n] + sorted(F.PHOTOS.glob("wp_*.jpg"))[:n]


@pytest.mark.parametrize("kind", ["cropped", "caption-strip", "skewed"])
def test_crop_hashes_find_real_variants(kind):
    """A 70%-area crop, a caption strip and a crooked scan: a crop hash within 8 of the other's pHash."""
    import random

    from catalogue.variants import make_variant

    for path in _real_photos(3):
        params = {"area": 0.70} if kind == "cropped" else {}
        variant = make_variant(path, kind, rng=random.Random(f"{path.name}:{kind}"), **params)
        orig, _, _ = S.compute_signals(path, derivatives=False)
        copy, _, _ = S.compute_signals(io.BytesIO(variant.data), derivatives=False)
        best = min(min(S.hamming(h, copy.phash) for h in orig.crop_hashes),
                   min(S.hamming(h, orig.phash) for h in copy.crop_hashes))
        assert best <= 8, (path.name, variant.params, best)


def test_crop_hashes_keep_other_shots_apart():
    """Different shots of one object (UKBench group) and neighbouring video frames stay > 8 apart."""
    if not F.PHOTOS.exists():
        pytest.skip("shared photos absent")
    names = ["ukbench00016.jpg", "ukbench00017.jpg", "ukbench00018.jpg", "ukbench00019.jpg"]
    sigs = [S.compute_signals(F.PHOTOS / n, derivatives=False)[0] for n in names]
    for a in sigs:
        for b in sigs:
            if a is not b:
                assert min(S.hamming(h, b.phash) for h in a.crop_hashes) > 8


def test_metadata(tmp_path, photo):
    path = F.save(photo, tmp_path / "m.jpg", dpi=(300, 300), icc_profile=F.srgb_profile_bytes())
    sig, _, _ = S.compute_signals(path, derivatives=False)
    assert sig.dpi == (300.0, 300.0)
    assert "sRGB" in sig.icc_description
    assert sig.exif_orientation == 1 and sig.camera is None and sig.exif_datetime is None


def test_large_tiff_reduced_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "REDUCE_ABOVE_PIXELS", 1_000_000)
    path = F.big_tiff(tmp_path / "big.tif", 3000, 2000)
    sig, preview, _ = S.compute_signals(path)
    assert (sig.width, sig.height) == (3000, 2000)
    img = S.decode_for_hashing(path, derivatives=True)
    assert sig.phash == _ih(imagehash.phash(img))
    full = Image.open(path).reduce(3000 // 1280)
    assert S.hamming(sig.phash, _ih(imagehash.phash(S._hash_image(full)))) <= 2
    assert Image.open(io.BytesIO(preview)).size[0] >= 1280


@pytest.mark.parametrize("content,expect", [
    (b"", "empty file"),
    (b"hello, this is a text file\n" * 20, "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "not an image|unreadable image header"),
])
def test_bad_files(tmp_path, content, expect):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(S.ImageDecodeError, match=expect):
        S.compute_signals(path)


def test_truncated_and_corrupt_jpeg(tmp_path, photo):
    data = F.jpeg_bytes(photo, quality=90)
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(S.ImageDecodeError, match="truncated"):
        S.compute_signals(tmp_path / "t.jpg")
    corrupt = bytearray(data)
    corrupt[600:4000] = np.random.default_rng(1).integers(0, 256, 3400, dtype=np.uint8).tobytes()
    (tmp_path / "c.jpg").write_bytes(bytes(corrupt))
    with pytest.raises(S.ImageDecodeError):
        S.pixel_digest(tmp_path / "c.jpg")
    with pytest.raises(S.ImageDecodeError, match="cannot read"):
        S.compute_signals(tmp_path / "missing.jpg")


def test_hamming():
    assert S.hamming(0, 2**64 - 1) == 64 and S.hamming(0b1011, 0b0001) == 2
