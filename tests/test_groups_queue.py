"""The review queue reads an item's candidate group through its pair, so a regroup (after every verify
batch) never strips queue items of their group: "same group next" keeps working batch after batch."""

import pytest
from django.urls import reverse

from catalogue.models import CatalogueRecord, ImageFile
from dedup.models import CandidatePair
from dedup.tasks import verify_batch
from review import services
from review.models import ReviewItem
from tests.test_review_decisions import decide
from tests.test_review_queue import item_of

pytestmark = pytest.mark.django_db


def image(collection, name, width=100):
    record = CatalogueRecord.objects.create(collection=collection, catalogue_number=name)
    return ImageFile.objects.create(
        record=record,
        collection=collection,
        storage_key=f"originals/none/{name}",
        original_filename=f"{name}.jpg",
        source_path=f"{name}.jpg",
        size=1000,
        sha256=name.encode().hex().ljust(64, "0"),
        format="JPEG",
        width=width,
        height=100,
        mode="RGB",
    )


def verified_pair(a, b, priority):
    """A pair verification already put in the review tier (verify_batch then only regroups it)."""
    a, b = sorted((a, b), key=lambda i: i.pk)
    return CandidatePair.objects.create(
        image_a=a,
        image_b=b,
        phash_distance=3,
        dhash_distance=3,
        score=priority,
        priority=priority,
        tier="review",
        relation="resized",
        verified=True,
    ).pk


def group_of(item):
    return ReviewItem.objects.select_related("pair").get(pk=item.pk).pair.group_id


def test_a_regroup_after_decisions_keeps_the_queue_items_group(client_for, collection):
    master = image(collection, "M-1", width=400)
    copies = [image(collection, f"M-1-copy-{n}") for n in range(4)]
    # Two unrelated pairs first in queue order: "next" without the group would bring one of them.
    others = [image(collection, f"X-{n}") for n in range(4)]
    batch = [verified_pair(master, copy, 0.5) for copy in copies]
    batch += [verified_pair(others[0], others[1], 0.99), verified_pair(others[2], others[3], 0.98)]
    verify_batch.delay(batch)
    services.sync_queue()
    group = CandidatePair.objects.get(pk=batch[0]).group_id
    client = client_for("cataloguer")
    first = ReviewItem.objects.get(pair=batch[0])
    client.post(reverse("review-claim", args=[first.pk]))

    second = item_of(decide(client, first, "keep-left"))

    assert group is not None and group_of(second) == group
    # A new copy of the picture is verified: its batch regroups the component the group is in.
    verify_batch.delay([verified_pair(master, image(collection, "M-1-copy-new"), 0.5)])
    services.sync_queue()

    third = item_of(decide(client, second, "keep-left"))

    assert group_of(third) == group_of(second) == group
    assert CandidatePair.objects.filter(group=group).count() == 5
    fourth = item_of(decide(client, third, "keep-left"))
    assert group_of(fourth) == group
