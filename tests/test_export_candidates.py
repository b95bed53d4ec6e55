"""export_candidates' contract (issue 13, item 7): the columns it always had, in their order, then
suggested_master (left / right) and master_reason, which say what the pair screen suggests."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from catalogue.models import CatalogueRecord, ImageFile
from dedup.management.commands.export_candidates import COLUMNS
from dedup.models import CandidatePair
from review import services
from review.models import ReviewItem

pytestmark = pytest.mark.django_db
ORIGINAL_COLUMNS = [
    "left",
    "right",
    "tier",
    "relation",
    "score",
    "left_collection",
    "right_collection",
    "left_sha256",
    "right_sha256",
    "phash_distance",
    "dhash_distance",
    "orientation_distance",
    "border_distance",
    "crop_distance",
    "group",
    "explanation",
    "relation_params",
    "tier_reason",
]


def image(collection, n, width, height):
    record = CatalogueRecord.objects.create(collection=collection, catalogue_number=f"E-{n}")
    return ImageFile.objects.create(
        record=record,
        collection=collection,
        storage_key=f"originals/e/{n}",
        original_filename=f"{n}.jpg",
        source_path=f"scans/{n}.jpg",
        size=1000,
        sha256=f"{n:064x}",
        format="JPEG",
        width=width,
        height=height,
        mode="RGB",
    )


@pytest.fixture
def pairs(collection):
    """Three mirrored pairs (no direction follows from a mirror: the keep-best rule decides): the
    larger image on the left, on the right, on the right again."""
    made = []
    for n, (left, right) in enumerate(
        [((2000, 1500), (1000, 750)), ((800, 600), (1600, 1200)), ((640, 480), (1280, 960))]
    ):
        a, b = image(collection, 2 * n, *left), image(collection, 2 * n + 1, *right)
        made.append(
            CandidatePair.objects.create(
                image_a=a,
                image_b=b,
                phash_distance=4,
                dhash_distance=5,
                score=0.7,
                tier="review",
                relation="mirrored",
                relation_params={"mirror": "horizontal"},
                priority=0.5,
                verified=True,
            )
        )
    return made


def export(fmt):
    out = io.StringIO()
    call_command("export_candidates", format=fmt, stdout=out)
    return out.getvalue()


def test_the_new_columns_come_after_the_existing_ones(pairs):
    rows = list(csv.DictReader(io.StringIO(export("csv"))))

    assert list(rows[0]) == ORIGINAL_COLUMNS + ["suggested_master", "master_reason"] == COLUMNS
    assert [r["suggested_master"] for r in rows] == ["left", "right", "right"]
    assert all("resolution" in r["master_reason"] for r in rows)
    assert "2000×1500" in rows[0]["master_reason"] and "1600×1200" in rows[1]["master_reason"]
    assert [r["suggested_master"] for r in json.loads(export("json"))] == ["left", "right", "right"]


def test_the_export_suggests_what_the_pair_screen_suggests(client_for, pairs):
    client = client_for("cataloguer")
    rows = list(csv.DictReader(io.StringIO(export("csv"))))
    for pair, row in zip(pairs, rows, strict=True):
        services.queue_pair(pair)
        item = ReviewItem.objects.get(pair=pair)
        page = client.get(reverse("review-item", args=[item.pk])).content.decode()
        pane = page[page.index(f'<figure class="pane {row["suggested_master"]}">') :]
        assert "suggested master" in pane[: pane.index("</figcaption>")]
        other = "right" if row["suggested_master"] == "left" else "left"
        pane = page[page.index(f'<figure class="pane {other}">') :]
        assert "suggested master" not in pane[: pane.index("</figcaption>")]


def test_a_user_language_does_not_change_the_export(pairs):
    from django.utils import translation

    with translation.override("zh-hant"):
        rows = list(csv.DictReader(io.StringIO(export("csv"))))
    assert list(rows[0])[-2:] == ["suggested_master", "master_reason"]
    assert all("resolution" in r["master_reason"] for r in rows)
