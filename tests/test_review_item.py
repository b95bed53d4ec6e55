"""The item screen and the derivative images behind it: what a reviewer sees, and who may see it."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from review import services
from review.models import ReviewItem
from tests.conftest import need
from tests.test_review_corpus import build_corpus, build_group
from tests.test_review_decisions import decide
from tests.test_review_queue import item_of, start

pytestmark = pytest.mark.django_db


def test_the_item_screen_explains_the_pair(client_for, collection):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    item = item_of(start(client))

    response = client.get(item.get_absolute_url())

    page = response.content.decode()
    assert response.status_code == 200
    # Built from the relation and its parameters, told from the suggested master (Left).
    assert (
        "Right is the same picture as Left, re-encoded with different compression, at 0.5× the resolution; "
        "colours unchanged." in page
    )
    assert "resized + recompressed" in page
    # The suggestion: the TIFF at full size is the source (the copy was reduced from it), and a resize is
    # a duplicate.
    suggestion = response.context["suggestion"]
    assert (suggestion.side, suggestion.image, suggestion.criterion, suggestion.kind) == (
        "left",
        item.pair.image_a,
        "source",
        "duplicate",
    )
    assert suggestion.reason == "Left is the source: Right is Left reduced to 50% of its size."
    assert "Duplicate: keep left as master" in page
    assert "Left is the source: Right is Left reduced to 50% of its size." in page
    fired = [s for s in response.context["signals"] if s["fired"]]
    assert [s["distance"] for s in fired] == [4]
    differing = {str(row["label"]) for row in response.context["rows"] if row["differs"]}
    assert {"Dimensions", "File size", "Format", "Catalogue number", "Title", "Credit line"} <= differing
    assert "Collection" not in differing
    # Keyboard shortcuts are on screen; images come through the authorised view, never storage URLs.
    assert "<kbd>←</kbd>" in page and "<kbd>N</kbd>" in page
    assert reverse("review-image", args=[item.pair.image_a_id, "preview"]) in page
    assert "/nowhere/" not in page and "originals/" not in page


def test_the_item_screen_runs_a_fixed_number_of_queries(client_for, collection):
    build_corpus(collection, pairs=1)
    group, _pairs = build_group(collection, members=4)
    client = client_for("cataloguer")
    services.sync_queue()
    plain = item_of(start(client))
    grouped = ReviewItem.objects.filter(pair__group=group).first()

    with CaptureQueriesContext(connection) as small:
        client.get(plain.get_absolute_url())
    with CaptureQueriesContext(connection) as large:
        client.get(grouped.get_absolute_url())

    assert len(small) <= 12, [q["sql"] for q in small]
    assert len(large) <= len(small) + 3, [q["sql"] for q in large]


def test_a_group_shows_a_strip_of_thumbnails(client_for, collection):
    group, pairs = build_group(collection, members=4)
    client = client_for("cataloguer")
    item = item_of(start(client))

    response = client.get(item.get_absolute_url())

    strip = response.context["strip"]
    assert len(strip) == 4 and sum(member["is_master"] for member in strip) == 1
    assert reverse("review-image", args=[group.master_id, "thumbnail"]) in response.content.decode()
    # Deciding one member against the master brings the next member of the same group.
    following = item_of(decide(client, item, "keep-left"))
    assert following.pair.group_id == group.pk


def test_previews_are_served_to_signed_in_viewers_only(client, client_for, collection):
    pair = build_corpus(collection, pairs=1)[0]
    url = reverse("review-image", args=[pair.image_a_id, "preview"])

    assert client.get(url).status_code == 302
    assert client_for("outsider").get(url).status_code == 403
    response = client_for("cataloguer").get(url)

    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    preview = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert max(preview.size) <= 1600
    assert client_for("cataloguer").get(url.replace("preview", "original")).status_code == 404


def test_decisions_stick_after_a_rescan(client_for, collection):
    need(_verify_available(), "dedup.verify (OpenCV) is not importable")
    pairs = build_corpus(collection, pairs=2)
    client = client_for("cataloguer")
    item = item_of(start(client))
    decide(client, item, "distinct")

    call_command("find_duplicates", rescan=True, no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())

    item.refresh_from_db()
    assert item.status == "decided" and item.decision.kind == "distinct"
    client.get(reverse("review-queue"))
    remaining = set(ReviewItem.objects.filter(status="open").values_list("pair_id", flat=True))
    assert item.pair_id not in remaining
    assert {p.pk for p in pairs} - {item.pair_id} <= remaining


def _verify_available():
    try:
        import dedup.verify  # noqa: F401
    except ImportError:
        return False
    return True
