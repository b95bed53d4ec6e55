"""The cheap ways dedup.signals makes a preview: an upright JPEG no larger than a preview is its own preview
(its segments copied without the metadata), and a large preview is shrunk by libvips. Plain pytest."""
from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageCms

from dedup import signals as S
from tests import imagefactory as F


@pytest.fixture(scope="module")
def photo():
    return F.scene(1200, 900)


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def _markers(data: bytes) -> list[int]:
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        out.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return out


@pytest.mark.parametrize("progressive", [False, True])
def test_an_upright_jpeg_is_its_own_preview_without_its_metadata(tmp_path, photo, progressive):
    exif = Image.Exif()
    exif[0x010F] = "Acme"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "a.jpg"
    photo.save(path, quality=90, exif=exif.tobytes(), icc_profile=srgb, progressive=progressive,
               comment=b"scanned 1987")
    data = path.read_bytes()
    sig, preview, thumb = S.compute_signals(path)
    assert preview != data and preview.endswith(data[data.index(b"\xff\xda") :])  # the scans as they are
    assert not {0xE1, 0xE2, 0xFE} & set(_markers(preview))  # EXIF, ICC and comment dropped, like a re-encode
    assert (_pixels(preview) == _pixels(data)).all()
    assert Image.open(io.BytesIO(thumb)).size == (256, 192)
    # The hashes come from the hashes' own decode scale, and decode_for_hashing says which image that is.
    img = S.decode_for_hashing(path, derivatives=True)
    assert img.size == (600, 450)
    assert sig.phash == int(str(imagehash.phash(img)), 16)
    assert S.compute_signals(io.BytesIO(data))[1] == preview  # a file object gives the same


def test_the_copy_changes_the_hashes_by_a_bit_or_two_at_most(tmp_path, photo):
    path = F.save(photo, tmp_path / "a.jpg", quality=90)
    copied = S.compute_signals(path)[0]
    full = S._hash_image(S._decode(path, min_side=S.HASH_MIN_SIDE, min_long=1280)[1])  # the re-encode's scale
    reencoded = S.Signals(**{**copied.__dict__, "notes": []})
    S._fill_hashes(reencoded, full)
    assert S.hamming(copied.phash, reencoded.phash) <= 4
    assert max(S.hamming(a, b) for a, b in zip(copied.crop_hashes, reencoded.crop_hashes, strict=True)) <= 6


@pytest.mark.parametrize("case", ["rotated", "cmyk", "too many bits", "larger than a preview"])
def test_the_other_jpegs_are_re_encoded_as_before(tmp_path, photo, case):
    path = tmp_path / "a.jpg"
    if case == "rotated":
        F.with_exif_orientation(photo, path, 6)
    elif case == "cmyk":
        photo.convert("CMYK").save(path, quality=90)
    elif case == "too many bits":
        noise = np.random.RandomState(1).randint(0, 256, (900, 1200, 3), dtype=np.uint8)
        Image.fromarray(noise).save(path, quality=100, subsampling=0)
    else:
        F.scene(2400, 1800).save(path, quality=90)
    data = path.read_bytes()
    _, preview, _ = S.compute_signals(path)
    assert not preview.endswith(data[data.index(b"\xff\xda") :])
    shown = Image.open(io.BytesIO(preview))
    assert shown.mode == "RGB"
    assert shown.size == ((1600, 1200) if case == "larger than a preview" else (1200, 900))  # upright


def test_a_large_preview_is_shrunk_as_pillows_bilinear_would(tmp_path):
    big = F.scene(2400, 1800)
    shrunk = S._fit(big, 1600)
    assert shrunk.size == (1600, 1200) and shrunk.mode == "RGB"
    pillow = big.resize((1600, 1200), Image.Resampling.BILINEAR, reducing_gap=2.0)
    diff = np.abs(np.asarray(shrunk, dtype=np.int16) - np.asarray(pillow, dtype=np.int16))
    assert diff.mean() < 0.5 and diff.max() <= 4
    grey = S._fit(big.convert("L"), 1600)
    assert grey.size == (1600, 1200) and grey.mode == "L"
