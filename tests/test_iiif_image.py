"""The IIIF Image API 3.0 service of the originals (iiif/): info.json, tiles that hold the original's
pixels, the tile cache in storage, the same authorisation as the original file, and clear answers for
bad requests and bad originals."""

import io
import json
import logging
import math

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from tests.test_review_corpus import add_image, encode, picture

pytestmark = pytest.mark.django_db


def _content(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def _decoded(response):
    assert response.status_code == 200, _content(response)[:300]
    assert response["Content-Type"] == "image/jpeg"
    return Image.open(io.BytesIO(_content(response))).convert("RGB")


def _tile_url(image, region, size):
    return reverse(
        "iiif-image",
        kwargs={"pk": image.pk, "region": region, "size": size, "rotation": "0", "quality": "default",
                "fmt": "jpg"},
    )


def _scan(size=(1500, 1000), seed=3):
    """A picture with detail at every scale: shapes, and a fine noise the eye (and a wrong region) sees."""
    base = np.asarray(picture(seed, size=size), dtype=np.int16)
    noise = np.random.default_rng(seed).integers(-40, 40, size=(size[1], size[0], 1))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def _mean_difference(a, b):
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


@pytest.fixture
def scan(collection):
    picture_ = _scan()
    image = add_image(collection, "SCAN-1", encode(picture_, "PNG"))
    return image, picture_


def test_info_json_describes_the_original_for_level_1(client_for, scan):
    image, _picture = scan

    response = client_for("cataloguer").get(reverse("iiif-info", args=[image.pk]))

    assert response.status_code == 200
    info = json.loads(response.content)
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["id"] == f"http://testserver/iiif/3/{image.pk}"
    assert info["type"] == "ImageService3" and info["protocol"] == "http://iiif.io/api/image"
    assert info["profile"] == "level1"
    assert (info["width"], info["height"]) == (1500, 1000)
    assert info["tiles"] == [{"width": 512, "height": 512, "scaleFactors": [1, 2, 4]}]
    assert info["sizes"] == [{"width": 375, "height": 250}, {"width": 750, "height": 500},
                             {"width": 1500, "height": 1000}]


def test_info_json_is_json_ld_when_asked(client_for, scan):
    image, _picture = scan

    response = client_for("cataloguer").get(
        reverse("iiif-info", args=[image.pk]), HTTP_ACCEPT="application/ld+json"
    )

    assert response["Content-Type"] == (
        'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    )


def test_the_base_url_redirects_to_info_json(client_for, scan):
    image, _picture = scan

    response = client_for("cataloguer").get(f"/iiif/3/{image.pk}")

    assert response.status_code == 302 and response["Location"] == f"/iiif/3/{image.pk}/info.json"


def test_a_full_resolution_tile_holds_the_originals_pixels_of_that_region(client_for, scan):
    image, picture_ = scan
    client = client_for("cataloguer")

    tile = _decoded(client.get(_tile_url(image, "512,512,512,488", "512,488")))

    assert tile.size == (512, 488)
    assert _mean_difference(tile, picture_.crop((512, 512, 1024, 1000))) < 6
    # The comparison can fail: the neighbouring region differs by far more than JPEG's loss.
    assert _mean_difference(tile, picture_.crop((520, 512, 1032, 1000))) > 15


def test_a_reduced_tile_is_the_region_scaled_down(client_for, scan):
    image, picture_ = scan

    tile = _decoded(client_for("cataloguer").get(_tile_url(image, "1024,0,476,1000", "119,250")))

    assert tile.size == (119, 250)
    expected = picture_.crop((1024, 0, 1500, 1000)).resize((119, 250), Image.Resampling.BOX)
    assert _mean_difference(tile, expected) < 6


def _osd_tile_urls(image, info):
    """The URLs OpenSeadragon's IIIFTileSource (version 3) asks for: every tile of every level."""
    width, height, tile = info["width"], info["height"], info["tiles"][0]["width"]
    for factor in info["tiles"][0]["scaleFactors"]:
        step = tile * factor
        level_w, level_h = math.ceil(width / factor), math.ceil(height / factor)
        for y in range(0, height, step):
            for x in range(0, width, step):
                if level_w <= tile and level_h <= tile:
                    region, size = "full", f"{level_w},{level_h}"
                else:
                    w, h = min(step, width - x), min(step, height - y)
                    region = "full" if (x, y, w, h) == (0, 0, width, height) else f"{x},{y},{w},{h}"
                    size_w, size_h = math.ceil(w / factor), math.ceil(h / factor)
                    size = "max" if (size_w, size_h) == (width, height) else f"{size_w},{size_h}"
                yield _tile_url(image, region, size)


def test_every_tile_a_viewer_asks_for_is_made_once_and_kept_under_the_originals_sha256(
    client_for, scan, monkeypatch
):
    from iiif import image_api

    image, _picture = scan
    client = client_for("cataloguer")
    info = json.loads(client.get(reverse("iiif-info", args=[image.pk])).content)
    decodes = []
    real = image_api.make_pyramid
    monkeypatch.setattr(image_api, "make_pyramid", lambda *a, **k: decodes.append(1) or real(*a, **k))
    monkeypatch.setattr(image_api, "render", lambda *a, **k: pytest.fail("a pyramid tile was rendered alone"))

    urls = list(_osd_tile_urls(image, info))
    for url in urls:
        assert client.get(url).status_code == 200, url
    for url in urls:  # the second view reads storage only
        assert client.get(url).status_code == 200, url

    assert len(urls) == 6 + 2 + 1 and decodes == [1]
    sha = image.sha256
    stored = default_storage.listdir(f"iiif/{sha[:2]}/{sha[2:4]}/{sha}")[0]
    assert "512,512,512,488" in stored and "full" not in stored


def test_a_size_outside_the_pyramid_is_rendered_from_the_original_and_kept(client_for, scan):
    image, picture_ = scan
    client = client_for("cataloguer")

    tile = _decoded(client.get(_tile_url(image, "pct:10,10,50,50", "!300,300")))

    assert tile.size == (300, 200)
    expected = picture_.crop((150, 100, 900, 600)).resize((300, 200), Image.Resampling.BOX)
    assert _mean_difference(tile, expected) < 8
    sha = image.sha256
    assert default_storage.exists(f"iiif/{sha[:2]}/{sha[2:4]}/{sha}/150,100,750,500/300,200.jpg")


def test_an_exif_rotated_original_is_served_upright(client_for, collection):
    upright = _scan(size=(600, 400), seed=5)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 400 x 600 as stored, orientation 6 shows it
    exif = Image.Exif()
    exif[0x0112] = 6
    image = add_image(collection, "ROT-1", encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    client = client_for("cataloguer")

    info = json.loads(client.get(reverse("iiif-info", args=[image.pk])).content)
    tile = _decoded(client.get(_tile_url(image, "full", "max")))

    assert (info["width"], info["height"]) == (600, 400)
    assert tile.size == (600, 400) and _mean_difference(tile, upright) < 8


@pytest.mark.parametrize(
    ("region", "size", "rotation", "quality", "status"),
    [
        ("0,0,-5,10", "max", "0", "default", 400),
        ("abc", "max", "0", "default", 400),
        ("5000,0,10,10", "max", "0", "default", 400),
        ("0,0,100,100", "200,200", "0", "default", 400),  # larger than the region, no ^
        ("0,0,100,100", "^200,200", "0", "default", 501),
        ("full", "max", "90", "default", 501),
        ("full", "max", "0", "gray", 501),
    ],
)
def test_a_bad_request_is_refused_with_the_reason(client_for, scan, region, size, rotation, quality, status):
    image, _picture = scan
    url = f"/iiif/3/{image.pk}/{region}/{size}/{rotation}/{quality}.jpg"

    response = client_for("cataloguer").get(url)

    assert response.status_code == status
    assert response["Content-Type"].startswith("text/plain") and len(response.content) > 10


def test_a_corrupt_original_gives_a_clear_message(client_for, scan):
    image, _picture = scan
    default_storage.delete(image.storage_key)
    default_storage.save(image.storage_key, ContentFile(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50))

    response = client_for("cataloguer").get(_tile_url(image, "0,0,512,512", "512,512"))

    assert response.status_code == 422
    text = response.content.decode()
    assert "cannot be shown" in text and image.original_filename in text


def test_a_missing_original_is_a_404_that_names_it(client_for, scan):
    image, _picture = scan
    default_storage.delete(image.storage_key)

    response = client_for("cataloguer").get(_tile_url(image, "0,0,512,512", "512,512"))

    assert response.status_code == 404
    text = response.content.decode()
    assert "missing from storage" in text and image.storage_key in text


def test_a_large_original_is_tiled_in_the_background(client_for, scan, settings, monkeypatch):
    from iiif import tasks

    image, picture_ = scan
    settings.MASTERCOPY_IIIF_SYNC_PIXELS = 1_000_000  # the scan is 1.5 MP
    queued = []
    monkeypatch.setattr(tasks.make_tiles, "delay", queued.append)
    client = client_for("cataloguer")
    url = _tile_url(image, "0,0,512,512", "512,512")

    first, second = client.get(url), client.get(url)

    assert first.status_code == 503 and int(first["Retry-After"]) > 0
    assert "being made" in first.content.decode()
    assert second.status_code == 503 and queued == [image.pk]  # enqueued once
    tasks.make_tiles(image.pk)  # what the worker runs
    tile = _decoded(client.get(url))
    assert _mean_difference(tile, picture_.crop((0, 0, 512, 512))) < 6


def test_a_corrupt_large_original_says_so_once_the_task_has_tried(client_for, scan, settings, monkeypatch):
    from iiif import tasks

    image, _picture = scan
    settings.MASTERCOPY_IIIF_SYNC_PIXELS = 1_000_000
    monkeypatch.setattr(tasks.make_tiles, "delay", lambda pk: None)
    default_storage.delete(image.storage_key)
    default_storage.save(image.storage_key, ContentFile(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50))
    tasks.make_tiles(image.pk)

    response = client_for("cataloguer").get(_tile_url(image, "0,0,512,512", "512,512"))

    assert response.status_code == 422 and "cannot be shown" in response.content.decode()


# --------------------------------------------------------------------------- authorisation

def _urls(image):
    return [
        reverse("catalogue-image-original", args=[image.pk]),
        reverse("iiif-info", args=[image.pk]),
        _tile_url(image, "0,0,512,512", "512,512"),
        _tile_url(image, "full", "!200,200"),
    ]


def test_without_a_role_every_iiif_url_is_refused_like_the_original(client_for, scan):
    image, _picture = scan
    client = client_for("outsider")

    assert [client.get(url).status_code for url in _urls(image)] == [403, 403, 403, 403]


def test_signed_out_every_iiif_url_asks_for_a_login(client, scan):
    image, _picture = scan

    responses = [client.get(url) for url in _urls(image)]

    assert all(r.status_code == 302 and "login" in r["Location"] for r in responses)


def test_a_restricted_collection_is_not_found_through_iiif_as_through_the_original(
    client_for, scan, personas
):
    from django.contrib.auth.models import Group

    image, _picture = scan
    insiders = Group.objects.create(name="Harbour insiders")
    image.collection.restricted_to.add(insiders)
    outsider_cataloguer = client_for("cataloguer")

    assert [outsider_cataloguer.get(url).status_code for url in _urls(image)] == [404, 404, 404, 404]
    sha = image.sha256
    assert not default_storage.exists(f"iiif/{sha[:2]}/{sha[2:4]}/{sha}/pyramid.json")  # nothing made

    personas["cataloguer"].groups.add(insiders)
    insider = client_for("cataloguer")
    assert [insider.get(url).status_code for url in _urls(image)] == [200, 200, 200, 200]


def test_a_stored_tile_is_served_with_one_storage_lookup(client_for, scan, monkeypatch):
    from iiif import tiles

    image, _picture = scan
    client = client_for("cataloguer")
    url = _tile_url(image, "0,0,512,512", "512,512")
    assert client.get(url).status_code == 200  # made
    monkeypatch.setattr(tiles, "pyramid", lambda image: pytest.fail("the pyramid was read for a stored tile"))

    assert client.get(url).status_code == 200


def test_the_decoded_size_wins_over_a_wrong_catalogue_size(client_for, scan):
    from catalogue.models import ImageFile

    image, picture_ = scan
    client = client_for("cataloguer")
    assert client.get(_tile_url(image, "0,0,512,512", "512,512")).status_code == 200  # pyramid made
    ImageFile.objects.filter(pk=image.pk).update(width=300, height=200)  # a wrong catalogue row

    info = json.loads(client.get(reverse("iiif-info", args=[image.pk])).content)
    tile = _decoded(client.get(_tile_url(image, "512,512,512,488", "512,488")))

    assert (info["width"], info["height"]) == (1500, 1000)
    assert _mean_difference(tile, picture_.crop((512, 512, 1024, 1000))) < 6


def _jpeg_scan(collection, number="SCAN-J", truncated=False, seed=3):
    data = encode(_scan(seed=seed), "JPEG", quality=90).getvalue()
    image = add_image(collection, number, io.BytesIO(data))
    if truncated:  # cut after it was fingerprinted: the tile is the first to read it again
        default_storage.delete(image.storage_key)
        default_storage.save(image.storage_key, ContentFile(data[: len(data) // 2]))
    return image


def test_a_tile_leaves_no_libvips_chatter_in_the_log(client_for, collection, caplog):
    # Two pictures (other pixels: other tiles), each tiled by its first request.
    image, other = _jpeg_scan(collection), _jpeg_scan(collection, "SCAN-K", seed=4)
    client = client_for("cataloguer")
    caplog.set_level(logging.DEBUG)  # everything that passes the loggers' own levels (settings.LOGGING)

    _decoded(client.get(_tile_url(image, "0,0,512,512", "512,512")))

    assert [r.getMessage() for r in caplog.records if r.name.startswith("pyvips")] == []
    # Nor is a deprecated loader argument used (libvips says so at INFO, on every load): all pyvips says.
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="pyvips")
    _decoded(client.get(_tile_url(other, "0,0,512,512", "512,512")))
    said = [r.getMessage() for r in caplog.records if r.name.startswith("pyvips")]
    assert said and not [line for line in said if "deprecated" in line], said


def test_a_truncated_jpeg_original_is_refused_and_libvips_warning_is_logged(client_for, collection, caplog):
    image = _jpeg_scan(collection, truncated=True)
    caplog.set_level(logging.DEBUG)

    response = client_for("cataloguer").get(_tile_url(image, "0,512,512,488", "512,488"))

    assert response.status_code == 422
    assert "cannot be shown" in response.content.decode()
    warned = [r for r in caplog.records if r.name.startswith("pyvips") and r.levelno >= logging.WARNING]
    assert warned, [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
