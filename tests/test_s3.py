"""Originals and derivatives in a real S3-compatible bucket (moto's standalone server on loopback)."""

import hashlib
import http.client
import importlib.util
import io
import json
import shutil
import socket
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.conftest import need

BUCKET = "mastercopy-test"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_endpoint():
    need(importlib.util.find_spec("moto") is not None, "moto is not installed (pip install 'moto[server]')")
    need(importlib.util.find_spec("flask") is not None, "moto's server extra is not installed")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/")
                answered = connection.getresponse().status
                connection.close()
                if answered < 500:
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not answer on {endpoint}")
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def s3(s3_endpoint, settings, _storage):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }
    return client


def _keys(client):
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _content(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.django_db
def test_originals_and_derivatives_live_in_an_s3_bucket(s3, photos, tmp_path, client, personas, collection):
    from django.core.files.storage import default_storage
    from storages.backends.s3 import S3Storage

    from catalogue.models import ImageFile

    folder = tmp_path / "scans"
    folder.mkdir()
    chosen = [p for p in photos if p.suffix.lower() in (".jpg", ".jpeg")][:3]
    need(len(chosen) == 3, "fewer than three shared JPEG photos")
    for photo in chosen:
        shutil.copyfile(photo, folder / photo.name)
    shutil.copyfile(chosen[0], folder / ("copy-of-" + chosen[0].name))  # byte-identical twin
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in chosen}

    call_command(
        "import_collection", str(folder), collection=collection.name, no_progress=True, stdout=io.StringIO()
    )

    assert isinstance(default_storage._wrapped, S3Storage)
    images = list(ImageFile.objects.all())
    assert len(images) == 4
    assert {image.sha256 for image in images} == digests
    originals = sorted(key for key in _keys(s3) if key.startswith("originals/"))
    assert originals == sorted(f"originals/{sha[:2]}/{sha[2:4]}/{sha}" for sha in digests)  # twin stored once
    for image in images:
        body = s3.get_object(Bucket=BUCKET, Key=image.storage_key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == image.sha256

    call_command("find_duplicates", no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())

    keys = set(_keys(s3))
    for image in ImageFile.objects.select_related("fingerprint"):
        assert image.state == ImageFile.State.READY, (image.source_path, image.state)
        fingerprint = image.fingerprint
        assert fingerprint.preview_key in keys and fingerprint.thumbnail_key in keys

    image = ImageFile.objects.get(source_path=chosen[1].name)
    url = reverse("catalogue-image-original", args=[image.pk])
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]

    client.force_login(personas["cataloguer"])
    response = client.get(url)
    assert response.status_code == 200
    assert _content(response) == chosen[1].read_bytes()

    preview = client.get(reverse("review-image", args=[image.pk, "preview"]))
    assert preview.status_code == 200 and preview["Content-Type"] == "image/jpeg"
    data = _content(preview)
    assert data[:2] == b"\xff\xd8"
    assert data == s3.get_object(Bucket=BUCKET, Key=image.fingerprint.preview_key)["Body"].read()


@pytest.mark.django_db
def test_iiif_tiles_are_made_from_and_kept_in_the_bucket(s3, client, personas, collection):
    from PIL import Image

    from tests.test_iiif_image import _mean_difference, _scan
    from tests.test_review_corpus import add_image, encode

    picture = _scan(size=(1100, 700))
    image = add_image(collection, "S3-SCAN", encode(picture, "PNG"))
    client.force_login(personas["cataloguer"])

    info = client.get(reverse("iiif-info", args=[image.pk]))
    tile = client.get(f"/iiif/3/{image.pk}/512,0,512,512/512,512/0/default.jpg")
    again = client.get(f"/iiif/3/{image.pk}/512,0,512,512/512,512/0/default.jpg")

    assert info.status_code == 200 and json.loads(info.content)["width"] == 1100
    assert tile.status_code == 200 and again.status_code == 200
    decoded = Image.open(io.BytesIO(_content(tile))).convert("RGB")
    assert _mean_difference(decoded, picture.crop((512, 0, 1024, 512))) < 6
    sha = image.sha256
    key = f"iiif/{sha[:2]}/{sha[2:4]}/{sha}/512,0,512,512/512,512.jpg"
    keys = set(_keys(s3))
    assert key in keys and f"iiif/{sha[:2]}/{sha[2:4]}/{sha}/pyramid.json" in keys
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == _content(again)
    # 6 + 2 + 1 tiles of three levels, the two larger whole-image sizes, pyramid.json
    assert len([k for k in keys if k.startswith(f"iiif/{sha[:2]}/")]) == 6 + 2 + 1 + 2 + 1
