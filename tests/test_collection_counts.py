"""The collection list and the collection page count records and images right: several records per
collection, several images per record, several collections, and the counts follow every way rows are
added or changed (one at a time, in bulk, by a queryset update), on SQLite and on PostgreSQL."""

import re

import pytest
from django.urls import reverse

from catalogue.models import CatalogueRecord, Collection, ImageFile


def add_images(collection, records, images_per_record, state="ready", start=0):
    made = []
    for r in range(records):
        record = CatalogueRecord.objects.create(collection=collection, catalogue_number=f"N-{start + r}")
        for i in range(images_per_record):
            made.append(
                ImageFile.objects.create(
                    record=record,
                    collection=collection,
                    storage_key=f"originals/{collection.pk}/{start + r}/{i}",
                    original_filename=f"{start + r}-{i}.jpg",
                    source_path=f"scans/{start + r}-{i}.jpg",
                    size=1000,
                    sha256=f"{collection.pk:08x}{start + r:08x}{i:048x}",
                    format="JPEG",
                    width=10,
                    height=10,
                    mode="RGB",
                    state=state,
                )
            )
    return made


def listed(response):
    """{collection pk: (records, images)} as the collection list shows them."""
    html = response.content.decode()
    rows = re.findall(
        r'<tr data-collection="(\d+)">.*?<td class="num records">(\d+)</td>'
        r'<td class="num images">(\d+)</td>',
        html,
    )
    return {int(pk): (int(records), int(images)) for pk, records, images in rows}


@pytest.fixture
def three(db):
    harbour = Collection.objects.create(name="Harbour")
    mills = Collection.objects.create(name="Mills")
    empty = Collection.objects.create(name="Empty")
    add_images(harbour, records=4, images_per_record=3, start=1000)  # 4 records, 12 images
    add_images(mills, records=5, images_per_record=1)
    add_images(mills, records=2, images_per_record=2, start=100)  # 7 records, 9 images
    return harbour, mills, empty


def test_the_list_counts_records_and_images_of_each_collection(client_for, three):
    harbour, mills, empty = three
    response = client_for("cataloguer").get(reverse("catalogue-collections"))
    assert response.status_code == 200
    assert listed(response) == {harbour.pk: (4, 12), mills.pk: (7, 9), empty.pk: (0, 0)}


def test_the_counts_follow_bulk_inserts_and_queryset_updates(client_for, three):
    harbour, mills, _empty = three
    record = CatalogueRecord.objects.create(collection=mills, catalogue_number="BULK")
    ImageFile.objects.bulk_create(
        ImageFile(
            record=record,
            collection=mills,
            storage_key=f"originals/bulk/{n}",
            original_filename=f"bulk-{n}.jpg",
            source_path=f"bulk/{n}.jpg",
            size=1,
            sha256=f"{n:064x}",
            format="JPEG",
            width=1,
            height=1,
            mode="RGB",
        )
        for n in range(6)
    )
    # A record moved between collections (with its images): both collections' counts change.
    moved = CatalogueRecord.objects.filter(collection=harbour).order_by("pk").first()
    CatalogueRecord.objects.filter(pk=moved.pk).update(collection=mills)
    ImageFile.objects.filter(record=moved).update(collection=mills)
    response = client_for("cataloguer").get(reverse("catalogue-collections"))
    assert listed(response)[harbour.pk] == (3, 9)
    assert listed(response)[mills.pk] == (7 + 1 + 1, 9 + 6 + 3)


def test_the_collection_page_counts_images_by_state(client_for, three):
    harbour, _mills, _empty = three
    add_images(harbour, records=2, images_per_record=2, state="pending", start=50)
    ids = list(ImageFile.objects.filter(collection=harbour, state="ready").values_list("pk", flat=True))
    ImageFile.objects.filter(pk__in=ids[:3]).update(state="failed", last_error="unreadable")
    one = ImageFile.objects.filter(collection=harbour, state="pending").first()
    one.state = "ready"
    one.save(update_fields=["state"])
    response = client_for("cataloguer").get(reverse("catalogue-collection", args=[harbour.pk]))
    text = re.sub(r"\s+", " ", response.content.decode())
    # 12 ready, 3 of them failed since, 4 pending of which 1 finished: 10 done of 16, 3 failed, 3 waiting.
    assert "Fingerprinted 10 of 16 images; 3 failed; 3 waiting." in text


def test_rebuild_recounts_what_the_triggers_missed(three):
    from catalogue import counts
    from catalogue.models import CollectionCounts

    harbour, mills, _empty = three
    CollectionCounts.objects.all().delete()
    counts.rebuild()
    assert (counts.of(harbour).records, counts.of(harbour).images) == (4, 12)
    assert (counts.of(mills).records, counts.of(mills).images, counts.of(mills).images_pending) == (7, 9, 0)


def test_a_collection_restricted_to_two_of_the_readers_groups_is_counted_once(client_for, personas, three):
    """Restriction goes through a many-to-many table: a reader in two of the collection's groups must
    not see its counts doubled (nor the collection listed twice), e.g. 100 records and 100 images, not
    200 or 10,000."""
    from django.contrib.auth.models import Group

    harbour, mills, _empty = three
    add_images(mills, records=93, images_per_record=1, start=5000)  # 100 records, 102 images in all
    one, two = Group.objects.create(name="Reading room"), Group.objects.create(name="Conservation")
    personas["cataloguer"].groups.add(one, two)
    mills.restricted_to.set([one, two])
    harbour.restricted_to.set([one])

    response = client_for("cataloguer").get(reverse("catalogue-collections"))

    assert listed(response) == {harbour.pk: (4, 12), mills.pk: (100, 102), _empty.pk: (0, 0)}
    assert response.content.decode().count(f'<tr data-collection="{mills.pk}">') == 1
