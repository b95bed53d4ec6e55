"""dedup.verify on real photos: each archive-style variant is recognised and explained; other shots aren't."""
import io
import random
from pathlib import Path

import pytest
from PIL import Image

from catalogue.variants import make_variant
from dedup.signals import pixel_digest
from dedup.verify import LABELS, verify

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"
PHOTO = PHOTOS / "kodak_kodim05.png"        # 768x512 PNG
JPEG = PHOTOS / "inet_n02002556_white_stork.jpg"
UKB_GROUP = [PHOTOS / f"ukbench{n:05d}.jpg" for n in (16, 17, 18, 19)]

pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="shared photos not available")


def variant(path, kind, **params):
    v = make_variant(path, kind, rng=random.Random(f"test:{kind}"), **params)
    return io.BytesIO(v.data), v.params


def both_ways(original, copy):
    """(verdict, the original's side) with the original as Left, then as Right."""
    return ((verify(original, copy), "left"), (verify(io.BytesIO(copy.getvalue()), original), "right"))


def check(verdict):
    assert verdict.labels and all(label in LABELS for label in verdict.labels)
    assert verdict.labels == [x for x in LABELS if x in verdict.labels]  # precedence order
    assert verdict.sentence.endswith(".") and verdict.sentence.count(". ") == 0
    assert 0.0 <= verdict.confidence <= 1.0
    return verdict


def test_identical_bytes():
    v = check(verify(JPEG, io.BytesIO(JPEG.read_bytes())))
    assert v.labels == ["identical"] and v.relation == "identical" and not v.different


def test_pixel_identical_png_is_also_format_changed():
    right, _ = variant(JPEG, "pixel-identical-png")
    v = check(verify(JPEG, right))
    assert v.labels == ["pixel-identical", "format-changed"]
    assert "PNG" in v.sentence


def test_digest_recipe_matches_signals(tmp_path):
    from dedup.verify import _decode, _digest, _header
    side = _header(JPEG, None)
    assert _digest(_decode(side, full=True)) == pixel_digest(JPEG)
    # digests supplied by the caller are used as they are
    info = {"pixel_digest": pixel_digest(JPEG)}
    right, _ = variant(JPEG, "pixel-identical-png")
    v = verify(JPEG, right, left_info=info, right_info={"pixel_digest": info["pixel_digest"]})
    assert v.labels[0] == "pixel-identical"


def test_resized_scale():
    right, p = variant(PHOTO, "resized", scale=0.6)
    v = check(verify(PHOTO, right))
    assert "resized" in v.labels and not v.different
    assert v.params["scale"] == pytest.approx(0.6, rel=0.05)
    assert "0.6× its resolution" in v.sentence


def test_recompressed():
    right, _ = variant(JPEG, "recompressed", quality=50)
    v = check(verify(JPEG, right))
    assert v.labels == ["recompressed"]


def test_rotated_90():
    right, _ = variant(PHOTO, "rotated-90")
    v = check(verify(PHOTO, right))
    assert "rotated" in v.labels and v.params["angle"] == 90
    assert "90° clockwise" in v.sentence


def test_mirrored():
    right, _ = variant(PHOTO, "mirrored")
    v = check(verify(PHOTO, right))
    assert "mirrored" in v.labels and "rotated" not in v.labels


def test_cropped_box():
    box = (0.1, 0.05, 0.9, 0.95)
    right, _ = variant(PHOTO, "cropped", box=box)
    v = check(verify(PHOTO, right))
    assert "cropped" in v.labels
    assert "identical" not in v.labels and "pixel-identical" not in v.labels
    assert v.params["crop_box"] == pytest.approx(box, abs=0.03)
    assert v.params["crop_area"] == pytest.approx(0.72, abs=0.03)
    assert "crop of Left keeping 72%" in v.sentence


def test_crop_the_other_way_round():
    left, _ = variant(PHOTO, "cropped", box=(0.0, 0.0, 0.85, 0.85))
    v = check(verify(left, PHOTO))
    assert "cropped" in v.labels and v.params["crop_of"] == "right"


def test_bordered():
    right, _ = variant(PHOTO, "bordered", sides=(0.05, 0.05, 0.05, 0.05), colour="white")
    v = check(verify(PHOTO, right))
    assert "bordered" in v.labels and "cropped" not in v.labels
    assert v.params["border"] == pytest.approx([0.045] * 4, abs=0.02)


def test_greyscale():
    right, _ = variant(PHOTO, "greyscale")
    v = check(verify(PHOTO, right))
    assert "greyscale" in v.labels and "colour-changed" not in v.labels


def test_colour_changed():
    right, _ = variant(PHOTO, "colour-changed", gamma=0.9, saturation=1.0, cast=None, cast_strength=0.0)
    v = check(verify(PHOTO, right))
    assert "colour-changed" in v.labels and "colours changed" in v.sentence


def test_caption_strip_is_overlay():
    right, _ = variant(PHOTO, "caption-strip", height=0.1, background="white")
    v = check(verify(PHOTO, right))
    assert "overlay" in v.labels and "bordered" not in v.labels and "cropped" not in v.labels
    assert v.params["overlay_box"][1] == pytest.approx(0.91, abs=0.03)


def test_skewed_angle():
    right, _ = variant(PHOTO, "skewed", angle=1.5)
    v = check(verify(PHOTO, right))
    assert "skewed" in v.labels and "rotated" not in v.labels
    # PIL's positive angle turns anticlockwise; Verdict angles are clockwise-positive
    assert v.params["angle"] == pytest.approx(-1.5, abs=0.5)


def test_other_shots_of_one_object_are_different():
    if not all(p.is_file() for p in UKB_GROUP):
        pytest.skip("UKBench group not available")
    for other in UKB_GROUP[1:]:
        v = check(verify(UKB_GROUP[0], other))
        assert v.different, (other.name, v.relation, v.sentence)
        assert v.sentence.startswith("Different photographs")


@pytest.mark.parametrize("kind", ["upscaled-lanczos", "upscaled-bicubic", "upscaled-sharpened"])
@pytest.mark.parametrize("photo", [JPEG, PHOTO, UKB_GROUP[0]])
def test_an_upscale_is_labelled_and_its_source_is_the_smaller_copy(kind, photo):
    upscale, params = variant(photo, kind)
    assert 1.2 <= params["scale"] <= 3.0
    both_ways = ((verify(photo, upscale), "left"), (verify(io.BytesIO(upscale.getvalue()), photo), "right"))
    for v, source in both_ways:
        check(v)
        assert "upscaled" in v.labels and "resized" not in v.labels
        assert (v.source, v.derivation) == (source, ["upscaled"])


@pytest.mark.parametrize("photo", [JPEG, PHOTO, UKB_GROUP[0]])
def test_a_reduction_is_not_an_upscale_of_it(photo):
    smaller, _ = variant(photo, "downscaled")
    v = check(verify(smaller, photo))  # the original is Right, and larger
    assert "resized" in v.labels and "upscaled" not in v.labels
    assert v.source == "right" and v.derivation[0] == "downscaled"  # (+ recompressed from the PNG)


@pytest.mark.parametrize("kind", ["bordered", "caption-strip", "cropped"])
def test_crop_border_and_caption_are_told_apart_on_either_side(kind):
    copy, _ = variant(JPEG, kind)
    expected = {"bordered": "bordered", "caption-strip": "overlay", "cropped": "cropped"}[kind]
    derivation = {"bordered": "bordered", "caption-strip": "captioned", "cropped": "cropped"}[kind]
    for v, source in ((verify(JPEG, copy), "left"), (verify(io.BytesIO(copy.getvalue()), JPEG), "right")):
        check(v)
        frames = {"cropped", "bordered", "overlay"} & set(v.labels)
        assert frames == {expected}
        assert (v.source, v.derivation) == (source, [derivation])


@pytest.mark.parametrize("other", ["inet_n04118538_rugby_ball.jpg", "kodak_kodim06.png"])
def test_features_that_align_only_by_shrinking_a_picture_to_a_dot_say_different(other):
    """A small photo against an unrelated larger one: RANSAC can fit a similarity that maps the larger
    picture onto a few pixels of the small one (its "inliers" all land within the reprojection threshold).
    That is no copy; it used to reach the photometry (a blur with a sigma of hundreds of pixels, minutes
    per pair, or a division by a zero scale that sent the pair to a person as "verification failed")."""
    small = PHOTOS / "ukbench01488.jpg"
    if not small.is_file():
        pytest.skip("UKBench photo not available")
    v = check(verify(small, PHOTOS / other))
    assert v.different, (other, v.relation, v.sentence)
    assert "less than 1/64 of the other's area" in v.sentence


@pytest.mark.parametrize(("photo", "scale", "quality"), [
    ("urban100_img_044.png", 0.55, 91),  # a soft photo: its reduction keeps about all of its detail
    ("urban100_img_044.png", 0.71, 88),
    ("ukbench00400.jpg", 0.75, 92),      # a JPEG whose 8-pixel block grid falls on the trace of a 4/3 upscale
    ("ukbench00292.jpg", 0.74, 88),
    ("urban100_img_044.png", 0.75, 90),  # a PNG made from a JPEG keeps the block grid too
    ("urban100_img_044.png", 0.625, 90),
])
def test_a_reduction_that_holds_little_more_detail_is_still_no_upscale(photo, scale, quality):
    """The larger copy is called an enlargement only when it shows the interpolation's periodic trace (where
    one can show): a soft original, or one whose JPEG block grid peaks where the trace would, holds little
    more detail than its reduction too."""
    original = PHOTOS / photo
    smaller, _ = variant(original, "downscaled", scale=scale, quality=quality)
    for v, source in both_ways(original, smaller):
        check(v)
        assert "resized" in v.labels and "upscaled" not in v.labels
        assert v.source == source and v.derivation[0] == "downscaled"


@pytest.mark.parametrize(("photo", "kind", "scale"), [
    (JPEG, "upscaled-bicubic", 1.6),        # a period of 8 pixels: gone with the JPEG block grid
    (JPEG, "upscaled-bicubic", 4 / 3),
    (PHOTO, "upscaled-bicubic", 2.0),       # the new pixels fall evenly between the old: no period at all
    (UKB_GROUP[0], "upscaled-lanczos", 2.0),
])
def test_an_upscale_by_a_factor_leaving_no_trace_is_found_by_enlarging_the_smaller(photo, kind, scale):
    upscale, _ = variant(photo, kind, scale=scale)
    for v, source in both_ways(photo, upscale):
        check(v)
        assert "upscaled" in v.labels and "resized" not in v.labels
        assert (v.source, v.derivation) == (source, ["upscaled"])


@pytest.mark.parametrize(("photo", "scale", "quality"), [
    ("ukbench00984.jpg", 0.46, 90),
    ("ukbench01569.jpg", 0.43, 95),
    ("ukbench00696.jpg", 0.78, 94),
    ("ukbench00824.jpg", 0.51, 88),
    ("ukbench01100.jpg", 0.47, 88),   # 92x210 -> 43x99
])
def test_a_small_photo_reduced_is_only_resized(photo, scale, quality):
    """On photos of 100-300 px, what a Lanczos reduction sharpened near its finest detail, an edge seam of
    the warp or a half-pixel misalignment read as an overlay or as another moment of the scene."""
    original = PHOTOS / photo
    smaller, _ = variant(original, "downscaled", scale=scale, quality=quality)
    for v, source in both_ways(original, smaller):
        check(v)
        assert v.labels == ["resized"]
        assert (v.source, v.derivation) == (source, ["downscaled"])


def test_a_plain_crop_resized_against_its_detailed_original_gets_a_verdict():
    """A 1600x1200 PNG against its crop brought to 500x375: the crop holds a few dozen features, most of the
    original's match the same few of them, and RANSAC's similarity mapped the original onto a dot (which
    raised cv2.error in the comparison's blur, or divided by zero). Now such a similarity is no match."""
    png, _ = variant(PHOTOS / "inet_n03337140_file.jpg", "pixel-identical-png")
    x, y, w, h = 234, 302, 1074, 806
    crop, _ = variant(Image.open(png), "cropped", box=(x / 1600, y / 1200, (x + w) / 1600, (y + h) / 1200))
    small, _ = variant(Image.open(crop), "resized", scale=500 / w, quality=90)
    assert Image.open(small).size == (500, 375)
    v = check(verify(io.BytesIO(small.getvalue()), io.BytesIO(png.getvalue())))
    assert v.different or "cropped" in v.labels


def test_two_sizes_a_tenth_apart_give_a_verdict_with_finite_numbers():
    """352x264 against 320x240 of one picture: the upscale test's band beyond the smaller copy's finest
    detail is empty at a factor of 1.1; it gave NaN, which PostgreSQL refused, failing the verify batch."""
    import json

    with Image.open(JPEG) as im:
        im = im.convert("RGB")
        copies = []
        for size in ((352, 264), (320, 240)):
            buf = io.BytesIO()
            im.resize(size, Image.Resampling.LANCZOS).save(buf, "JPEG", quality=92)
            copies.append(buf)
    v = check(verify(*copies))
    assert "resized" in v.labels and not v.different
    json.dumps(v.params, allow_nan=False)


@pytest.mark.parametrize("box", [(0.1, 0.05, 0.9, 0.95), (0.0, 0.2, 0.75, 1.0), (0.3, 0.3, 0.95, 0.9)])
def test_a_crop_at_its_own_resolution_is_found_in_place_without_features(box, monkeypatch):
    import dedup.verify as core

    def no_features(*args):
        raise AssertionError("SIFT was run for a crop the cheap check can place")

    monkeypatch.setattr(core, "_best_match", no_features)
    right, _ = variant(JPEG, "cropped", box=box)
    for v, original in both_ways(JPEG, right):
        check(v)
        assert v.labels == ["cropped"] and v.params["alignment"] == "crop in place"
        assert v.source == original and v.derivation == ["cropped"]
        found = v.params["crop_box"]
        assert found == pytest.approx(box, abs=0.004)


def test_a_crop_also_resized_or_turned_still_goes_to_the_features():
    cropped, _ = variant(JPEG, "cropped", box=(0.1, 0.1, 0.9, 0.9))
    with Image.open(cropped) as im:
        buf = io.BytesIO()
        smaller = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.Resampling.LANCZOS)
        smaller.save(buf, "JPEG", quality=90)
    v = check(verify(JPEG, buf))
    assert {"cropped", "resized"} <= set(v.labels) and "alignment" not in v.params and v.inliers >= 12
