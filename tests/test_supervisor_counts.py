"""Numbers a supervisor can trust (issue 13, item 6), through the pages and exports: the figures count
pairs decided (not decision rows: undos, redecisions, approvals, the escalations a revert raises), and
the mapping and partner exports name the decision that made each mapping (who, and when), with both
sides' record and collection ids and their files. Every group has several rows, so a join that
multiplied them, or a count of rows instead of pairs, would show."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from catalogue.models import CatalogueRecord, Collection, ImageFile
from catalogue.roles import CATALOGUER
from dedup.models import CandidatePair
from review import services, supervision
from review.models import Decision

pytestmark = pytest.mark.django_db


def record_with_images(collection, number, files):
    record = CatalogueRecord.objects.create(collection=collection, catalogue_number=number)
    images = [
        ImageFile.objects.create(
            record=record,
            collection=collection,
            storage_key=f"originals/{collection.pk}/{number}/{n}",
            original_filename=name.rsplit("/", 1)[-1],
            source_path=name,
            size=1000 + n,
            sha256=f"{collection.pk:04x}{abs(hash(number)) % 10**12:016x}{n:044x}",
            format="JPEG",
            width=100,
            height=100,
            mode="RGB",
        )
        for n, name in enumerate(files)
    ]
    return record, images


def pair_of(left, right, relation="resized"):
    a, b = sorted((left, right), key=lambda image: image.pk)
    return CandidatePair.objects.create(
        image_a=a,
        image_b=b,
        phash_distance=3,
        dhash_distance=3,
        score=0.8,
        tier="review",
        relation=relation,
        priority=0.5,
        verified=True,
    )


def chain(collection, count, prefix):
    """count records of one image each (the first has two), and the pairs 0-1, 1-2, ... between them."""
    records, images = [], []
    for n in range(count):
        files = [f"{prefix}/{n}.tif"] + ([f"{prefix}/{n}-back.tif"] if n == 0 else [])
        record, made = record_with_images(collection, f"{prefix}-{n}", files)
        records.append(record)
        images.append(made[0])
    pairs = [pair_of(images[n], images[n + 1]) for n in range(count - 1)]
    return records, pairs


@pytest.fixture
def second_cataloguer(personas):
    user = User.objects.create_user("second", password="correct horse battery staple")
    user.groups.add(Group.objects.get(name=CATALOGUER))
    return user


def figures_rows(client):
    """{name: [cells]} of the figures table as the page shows it."""
    page = client.get(reverse("review-supervisor-figures")).content.decode()
    rows = re.findall(r'<tr data-cataloguer="([^"]+)">(.*?)</tr>', page, re.S)
    return {name: re.findall(r'<td class="num[^"]*">([^<]*)</td>', cells) for name, cells in rows}


def test_figures_count_pairs_decided_not_decision_rows(client_for, collection, personas, second_cataloguer):
    cataloguer = personas["cataloguer"]
    _records, pairs = chain(collection, 9, "F")  # 8 pairs
    # The cataloguer: 5 pairs decided, one of them decided, undone and decided again;
    # a skip on a sixth pair.
    services.decide(pairs[0], Decision.Kind.RELATED, actor=cataloguer)
    services.decide(pairs[1], Decision.Kind.DISTINCT, actor=cataloguer)
    services.undo_last(cataloguer)
    services.decide(pairs[1], Decision.Kind.RELATED, actor=cataloguer)
    services.decide(pairs[2], Decision.Kind.ESCALATE, actor=cataloguer)
    services.decide(pairs[3], Decision.Kind.DISTINCT, actor=cataloguer)
    services.decide(pairs[4], Decision.Kind.RELATED, actor=cataloguer)
    services.decide(pairs[5], Decision.Kind.SKIP, actor=cataloguer)
    # The second cataloguer: 2 pairs.
    services.decide(pairs[6], Decision.Kind.DISTINCT, actor=second_cataloguer)
    services.decide(pairs[7], Decision.Kind.RELATED, actor=second_cataloguer)

    rows = figures_rows(client_for("supervisor"))

    # total, duplicate, related, distinct, skipped, escalated, hours, per hour, escalations, overturned
    assert rows["cataloguer"][:6] == ["5", "0", "3", "1", "1", "1"]
    assert rows["cataloguer"][8:10] == ["1", "1"]  # one escalation; one pair whose decision was undone
    assert rows["second"][:6] == ["2", "0", "1", "1", "0", "0"]
    assert Decision.objects.filter(actor=cataloguer).count() == 8  # the rows behind the 5 pairs


def test_a_revert_credits_its_author_with_no_escalations(client_for, collection, personas, second_cataloguer):
    cataloguer, supervisor = personas["cataloguer"], personas["supervisor"]
    records, pairs = chain(collection, 5, "R")
    first = services.decide(pairs[0], Decision.Kind.RELATED, actor=cataloguer)
    # Three later decisions touching record R-1, each resting on the first: a revert flags all three.
    services.decide(pairs[1], Decision.Kind.RELATED, actor=second_cataloguer)
    extra, _ = record_with_images(collection, "R-x", ["R/x.tif"])
    for other in (extra, records[3]):
        pair = pair_of(records[1].images.first(), other.images.first())
        services.decide(pair, Decision.Kind.DISTINCT, actor=second_cataloguer)
    services.decide(pairs[3], Decision.Kind.ESCALATE, actor=supervisor)  # one escalation of their own

    supervision.revert(first, supervisor)

    assert Decision.objects.filter(kind="escalate", actor=supervisor, flagged=True).count() == 3
    rows = figures_rows(client_for("supervisor"))
    assert rows["supervisor"][0] == "1"  # the one pair they escalated themselves
    assert rows["supervisor"][8] == "1"
    assert rows["second"][:2] == ["3", "0"] and rows["second"][8] == "0"
    assert rows["cataloguer"][0] == "1" and rows["cataloguer"][9] == "1"  # the reverted pair


def mapping(client, **params):
    response = client.get(reverse("review-supervisor-export-mapping"), {"format": "csv", **params})
    text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_mapping_credits_the_decision_that_made_each_mapping(client_for, collection, personas):
    cataloguer = personas["cataloguer"]
    partner = Collection.objects.create(name="Mills Partner")
    records, pairs = chain(collection, 4, "H")
    theirs, their_images = record_with_images(partner, "P-1", ["mills/0001.jpg", "mills/0001b.jpg"])
    cross = pair_of(records[0].images.first(), their_images[0], relation="pixel-identical")
    # The system settles H-1 (superseded by H-0) and the partner's P-1 (superseded by H-0) ...
    settled = services.decide_duplicate(pairs[0], records[0], automatic=True, reason="pixel-identical")
    settled_cross = services.decide_duplicate(cross, records[0], automatic=True, reason="pixel-identical")
    # ... later the cataloguer decides H-1 = H-2 (H-2 superseded, H-1 only touched, already superseded)
    # and relates H-2's neighbour H-3 to it.
    later = services.decide_duplicate(pairs[1], records[1], actor=cataloguer)
    related = services.decide(pairs[2], Decision.Kind.RELATED, actor=cataloguer)
    assert any(s["record"] == records[1].pk and s["status"] == "superseded" for s in later.after)

    rows = {(r["catalogue_number"], r["relation"]): r for r in mapping(client_for("supervisor"))}

    h1 = rows[("H-1", "superseded")]
    assert (h1["target_number"], h1["decided_by"], h1["decided_at"]) == (
        "H-0",
        "system",
        settled.created_at.isoformat(),
    )
    assert (h1["decision"], h1["automatic"]) == (str(settled.pk), "True")
    h2 = rows[("H-2", "superseded")]
    assert (h2["target_number"], h2["decided_by"], h2["decided_at"]) == (
        "H-0",
        "cataloguer",
        later.created_at.isoformat(),
    )
    p1 = rows[("P-1", "superseded")]
    assert (p1["decided_by"], p1["decided_at"], p1["collection"], p1["target_collection"]) == (
        "system",
        settled_cross.created_at.isoformat(),
        "Mills Partner",
        "Harbour Photographs",
    )
    assert (p1["record_id"], p1["collection_id"]) == (str(theirs.pk), str(partner.pk))
    assert (p1["target_record_id"], p1["target_collection_id"]) == (str(records[0].pk), str(collection.pk))
    assert p1["file"] == "mills/0001.jpg; mills/0001b.jpg"
    assert p1["target_file"] == "H/0.tif; H/0-back.tif"
    link = rows[("H-2", "related")]
    assert (link["target_number"], link["decided_by"], link["decided_at"]) == (
        "H-3",
        "cataloguer",
        related.created_at.isoformat(),
    )
    assert len(rows) == 4
    # The original columns first, in their order.
    header = list(mapping(client_for("supervisor"))[0])
    assert header[:6] == [
        "catalogue_number",
        "relation",
        "target_number",
        "collection",
        "decided_by",
        "decided_at",
    ]


def test_the_mapping_of_one_collection_includes_records_superseded_from_the_other_side(
    client_for, collection, personas
):
    partner = Collection.objects.create(name="Mills Partner")
    theirs, their_images = record_with_images(partner, "P-9", ["p/9.jpg"])
    ours, our_images = record_with_images(collection, "H-9", ["h/9.tif"])
    pair = pair_of(our_images[0], their_images[0])
    decision = services.decide_duplicate(pair, theirs, actor=personas["cataloguer"])
    assert pair.image_b == our_images[0]  # the pair is the partner's by its image_a

    rows = mapping(client_for("supervisor"), collection=collection.pk)

    assert [(r["catalogue_number"], r["decided_by"], r["decision"]) for r in rows] == [
        ("H-9", "cataloguer", str(decision.pk))
    ]


def test_the_partner_export_credits_the_settlement_not_the_later_touch(client_for, collection, personas):
    partner = Collection.objects.create(name="Mills Partner", partner="Mills")
    records, pairs = chain(collection, 3, "H")
    theirs, their_images = record_with_images(partner, "P-1", ["mills/1.jpg"])
    other, other_images = record_with_images(partner, "P-2", ["mills/2.jpg"])
    cross = pair_of(their_images[0], records[0].images.first())
    settled = services.decide_duplicate(cross, records[0], automatic=True, reason="pixel-identical")
    # The cataloguer later decides P-1 = P-2 keeping P-1 (which resolves to H-0): P-1 is only touched.
    later = services.decide_duplicate(
        pair_of(their_images[0], other_images[0]), theirs, actor=personas["cataloguer"]
    )

    response = client_for("supervisor").get(
        reverse("review-supervisor-export-partner", args=[partner.pk]), {"format": "csv"}
    )
    text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    rows = {r["partner_number"]: r for r in csv.DictReader(io.StringIO(text))}

    assert (rows["P-1"]["decided_by"], rows["P-1"]["decided_at"]) == (
        "system",
        settled.created_at.isoformat(),
    )
    assert (rows["P-2"]["decided_by"], rows["P-2"]["decided_at"]) == (
        "cataloguer",
        later.created_at.isoformat(),
    )


def test_an_approved_proposal_is_its_proposers_decision_and_the_approval_is_named(
    client_for, collection, personas
):
    from review import approval

    cataloguer, supervisor = personas["cataloguer"], personas["supervisor"]
    records, pairs = chain(collection, 4, "A")
    collection.policy = {"approval_rules": ["duplicate"]}
    collection.save()
    proposals = []
    for pair in pairs[:2]:  # two proposals, both approved later
        services.queue_pair(pair)
        item = pair.review_item
        services.claim(item.pk, cataloguer)
        services.review(item.pk, cataloguer, Decision.Kind.DUPLICATE, master_side="left")
        proposals.append(Decision.objects.get(pair=pair, pending=True))
    applied = [approval.approve(p.pk, supervisor) for p in proposals]

    rows = {
        r["catalogue_number"]: r for r in mapping(client_for("supervisor")) if r["relation"] == "superseded"
    }

    assert len(rows) == 2
    for proposal, decision in zip(proposals, applied, strict=True):
        row = rows[CatalogueRecord.objects.get(pk=decision.superseded_id).catalogue_number]
        assert (row["decided_by"], row["decided_at"]) == ("cataloguer", proposal.created_at.isoformat())
        assert (row["approved_by"], row["approved_at"]) == ("supervisor", decision.created_at.isoformat())
        assert row["decision"] == str(decision.pk)
