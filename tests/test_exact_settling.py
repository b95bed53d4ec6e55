"""Byte-identical pairs settle in bulk (dedup.verification.settle_exact, review.exact) with exactly the
outcome of the per-pair path (settle_exact_one for each pair in turn): the same corpus is built and
run through find_duplicates both ways, and every pair, record, decision, queue item, queue count,
group and licensing state is compared, with ids replaced by catalogue numbers and chain positions."""

import io
import re

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalogue.models import CatalogueRecord, Collection, CollectionCounts, ImageFile
from dedup import search, verification
from dedup.models import CandidateGroup, CandidatePair
from licensing.models import RecordState
from review import services, summaries
from review.models import Decision, DecisionCount, QueueCount, ReviewItem
from tests.test_review_corpus import add_image, encode, make_pair, picture

pytestmark = pytest.mark.django_db

PAIR_FIELDS = (
    "tier", "relation", "relation_params", "explanation", "tier_reason", "priority", "verified", "inferred",
    "source_side", "derivation", "same_bytes",
)  # fmt: skip


CELL = ("facet", "period", "actor_id", "kind", "collection_id", "collection_b_id", "relation", "band", "n")


def jpeg(seed, size=(320, 240), quality=90):
    return encode(picture(seed, size), quality=quality).getvalue()


def copies(collection, number, data, n, **fields):
    return [add_image(collection, f"{number}-{k}", io.BytesIO(data), **fields) for k in range(n)]


def build(personas):
    """Several exact copies per picture, in the cases where the order or a rule matters."""
    archive = Collection.objects.create(name="Archive", institution="City Archive")
    mirror = Collection.objects.create(name="Mirror", institution="City Archive")
    partner = Collection.objects.create(name="Partner", institution="Harbour Trust")
    manual = Collection.objects.create(
        name="Manual", institution="City Archive", policy={"auto_settle": False}
    )
    reference = Collection.objects.create(name="Reference", institution="City Archive", reference=True)
    approvals = Collection.objects.create(
        name="Approvals", institution="City Archive", policy={"approval_rules": ["duplicate"]}
    )
    # Four copies of one picture in one collection: six pairs, the later ones between records an earlier
    # decision of the same batch has merged already.
    copies(archive, "FOUR", jpeg(1), 4)
    # Copies across collections: two in the archive, one in the mirror, one under two-person rules.
    data = jpeg(2)
    copies(archive, "CROSS", data, 2)
    copies(mirror, "CROSS", data, 1)
    copies(approvals, "CROSS", data, 1)
    # A partner's copy (another owner): the archive's two copies settle, the partner's pairs are queued;
    # one record group with both kinds.
    data = jpeg(3)
    copies(archive, "MIXED", data, 2)
    copies(partner, "MIXED", data, 1)
    # Automatic settling switched off: every pair queued.
    data = jpeg(4)
    copies(archive, "OFF", data, 1)
    copies(manual, "OFF", data, 2)
    # A reference collection's copy is the master.
    data = jpeg(5)
    copies(archive, "REF", data, 2)
    copies(reference, "REF", data, 1)
    # Records decided earlier: a cataloguer made DONE-0 the master of DONE-1 (a pair verified and decided
    # before this run); their third copy comes now.
    done = copies(archive, "DONE", jpeg(6), 3)
    first = make_pair(done[0], done[1], score=1.0, relation="identical")
    services.decide_duplicate(first, first.image_a.record, actor=personas["cataloguer"])
    # A record that is already the master of another: superseded now, its follower moves along.
    data = jpeg(8)
    copies(archive, "FOLLOW", data, 1)
    followed = copies(mirror, "FOLLOW", data, 2)
    earlier = make_pair(followed[0], followed[1], score=1.0, relation="identical")
    services.decide_duplicate(earlier, earlier.image_a.record, actor=personas["cataloguer"])
    # An open queue item in the record group: IMP-0 was found related to a crop, and the crop's pair with
    # IMP-1 waits in the queue; settling IMP-0 = IMP-1 implies that pair's answer.
    base = picture(7, (320, 240))
    data = encode(base, quality=90).getvalue()
    imp = copies(archive, "IMP", data, 2)
    crop = add_image(archive, "IMP-crop", encode(base.crop((40, 30, 280, 210)), quality=85))
    related = make_pair(imp[0], crop, score=0.8, relation="cropped")
    services.decide(related, Decision.Kind.RELATED, actor=personas["cataloguer"])
    make_pair(imp[1], crop, score=0.8, relation="cropped")
    # Plenty of plain pairs of two: the bulk runs.
    for n in range(8):
        data = jpeg(100 + n)
        copies(archive, f"PLAIN{n}", data, 1)
        copies(mirror, f"PLAIN{n}", data, 1)


def per_pair(pairs, on_progress=None):
    for pair in pairs:
        verification.settle_exact_one(pair)
        if on_progress:
            on_progress()


def run(personas, monkeypatch, bulk, chunk=None):
    """Build the corpus, run find_duplicates one way, and return what it left (then roll it back)."""
    with monkeypatch.context() as patch:
        if not bulk:
            patch.setattr(verification, "settle_exact", per_pair)
        if chunk:
            patch.setattr(verification, "EXACT_CHUNK", chunk)
        with transaction.atomic():
            build(personas)
            start = Decision.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
            verification.STATS.clear()
            call_command("find_duplicates", no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())
            exact = verification.STATS["exact_pairs"]
            audit = io.StringIO()
            call_command("verify_audit", stdout=audit)
            found = snapshot(start), exact, audit.getvalue()
            kept = sorted(DecisionCount.objects.filter(n__gt=0).values_list(*CELL))
            summaries.rebuild()
            assert sorted(DecisionCount.objects.filter(n__gt=0).values_list(*CELL)) == kept  # = a recount
            transaction.set_rollback(True)
    with search._LIVE_LOCK:
        search._LIVE.clear()  # its index read the rows just rolled back
    return found


def snapshot(start):
    records = {
        pk: f"{c}/{n}"
        for pk, c, n in CatalogueRecord.objects.values_list("pk", "collection__name", "catalogue_number")
    }
    images = {
        pk: f"{c}/{p}" for pk, c, p in ImageFile.objects.values_list("pk", "collection__name", "source_path")
    }
    pairs = {
        pk: (images[a], images[b])
        for pk, a, b in CandidatePair.objects.values_list("pk", "image_a", "image_b")
    }
    collections = dict(Collection.objects.values_list("pk", "name"))
    chain = list(Decision.objects.order_by("sequence"))
    position = {d.pk: d.sequence - start for d in chain}

    def ids(text):
        return re.sub(r"decision (\d+)", lambda m: f"decision #{position.get(int(m[1]), '?')}", text)

    def states(rows):
        return [
            {"record": records[s["record"]], "status": s["status"], "master": records.get(s["master"])}
            for s in rows
        ]

    def evidence(value):
        value = dict(value)
        if "pair" in value:
            value["pair"] = pairs[value["pair"]]
        if "implied_by" in value:
            value["implied_by"] = [position[d] for d in value["implied_by"]]
        return value

    decisions = [
        {
            "position": position[d.pk],
            "kind": d.kind,
            "pair": pairs.get(d.pair_id),
            "master": records.get(d.master_id),
            "superseded": records.get(d.superseded_id),
            "actor": d.actor_id,
            "automatic": d.automatic,
            "reason": ids(d.reason),
            "comment": d.comment,
            "evidence": evidence(d.evidence),
            "before": states(d.before),
            "after": states(d.after),
            "effects": {
                k: [records[r] for r in v] if k == "link_created" else v for k, v in d.effects.items()
            },
            "flagged": d.flagged,
            "pending": d.pending,
        }
        for d in chain
    ]
    return {
        "pairs": sorted(
            (pairs[row["pk"]], tuple(row[f] for f in PAIR_FIELDS))
            for row in CandidatePair.objects.values("pk", *PAIR_FIELDS)
        ),
        "records": sorted(
            (records[pk], status, records.get(master))
            for pk, status, master in CatalogueRecord.objects.values_list("pk", "status", "master")
        ),
        "decisions": decisions,
        "items": sorted(
            (pairs[pair], status, position.get(decision))
            for pair, status, decision in ReviewItem.objects.values_list("pair", "status", "decision")
        ),
        "queue_counts": sorted(
            QueueCount.objects.filter(n__gt=0).values_list("status", "relation", "band", "n").order_by()
        ),
        "collection_counts": sorted(
            CollectionCounts.objects.values_list("collection__name", "records", "images", "images_ready")
        ),
        "groups": sorted(
            (images[g.master_id], sorted(images[m] for m in g.members.values_list("pk", flat=True)))
            for g in CandidateGroup.objects.all()
        ),
        "decision_counts": sorted(
            (facet, period, actor, kind, collections.get(a), collections.get(b), relation, band, n)
            for facet, period, actor, kind, a, b, relation, band, n in DecisionCount.objects.filter(
                n__gt=0
            ).values_list(*CELL)
        ),
        "record_states": sorted(
            (position[decision], records[record], status, records.get(master))
            for decision, record, status, master in RecordState.objects.values_list(
                "decision", "record", "status", "master"
            )
        ),
    }


@pytest.mark.parametrize("chunk", [None, 4], ids=["one-transaction", "transactions-of-4"])
def test_bulk_settling_leaves_exactly_what_the_per_pair_path_leaves(personas, monkeypatch, chunk):
    reference, exact_before, audit_before = run(personas, monkeypatch, bulk=False)
    # transactions of 4: a picture's pairs, and a record group's, fall in several
    bulk, exact_after, audit_after = run(personas, monkeypatch, bulk=True, chunk=chunk)

    assert exact_before == exact_after == 34
    for part in reference:
        assert bulk[part] == reference[part], part
    assert "intact" in audit_after and "intact" in audit_before
    # What the corpus is meant to show, so that the comparison compares something.
    records = dict((number, (status, master)) for number, status, master in bulk["records"])
    for k in (1, 2, 3):  # one master for all four copies: the group stays flat
        assert records[f"Archive/FOUR-{k}"] == ("superseded", "Archive/FOUR-0")
    assert records["Archive/CROSS-0"] == ("active", None)
    assert records["Mirror/CROSS-0"] == records["Approvals/CROSS-0"] == ("superseded", "Archive/CROSS-0")
    assert records["Partner/MIXED-0"] == ("active", None)
    assert records["Archive/MIXED-1"] == ("superseded", "Archive/MIXED-0")
    assert all(
        records[f"{c}/OFF-{k}"] == ("active", None) for c, k in (("Archive", 0), ("Manual", 0), ("Manual", 1))
    )
    assert records["Archive/REF-0"] == records["Archive/REF-1"] == ("superseded", "Reference/REF-0")
    assert records["Archive/DONE-2"] == ("superseded", "Archive/DONE-0")
    assert records["Mirror/FOLLOW-0"] == records["Mirror/FOLLOW-1"] == ("superseded", "Archive/FOLLOW-0")
    kinds = [(d["kind"], d["automatic"], d["pair"]) for d in bulk["decisions"]]
    closed = [d for d in bulk["decisions"] if "implied_by" in d["evidence"]]
    assert [d["pair"] for d in closed] == [("Archive/IMP-1.jpeg", "Archive/IMP-crop.jpeg")]
    assert closed[0]["kind"] == "related"
    assert sum(1 for kind, automatic, _ in kinds if kind == "duplicate" and automatic) == 34 - 5
    queued = [(pair, status) for pair, status, _ in bulk["items"] if "MIXED" in pair[0] or "OFF" in pair[0]]
    assert len(queued) == 5 and all(status == "open" for _, status in queued)
    assert max(n for *_, n in bulk["queue_counts"]) > 1  # a count cell of several items
    assert any(len(members) > 2 for _, members in bulk["groups"])
    assert sum(n for facet, *_, n in bulk["decision_counts"] if facet == "chart") == len(bulk["decisions"])


def plain_pairs(n, offset=0):
    """n byte-identical pairs of two, waiting for verification."""
    archive, _ = Collection.objects.get_or_create(name="Archive", institution="City Archive")
    mirror, _ = Collection.objects.get_or_create(name="Mirror", institution="City Archive")
    ids = []
    for k in range(offset, offset + n):
        images = []
        for collection in (archive, mirror):
            record = CatalogueRecord.objects.create(collection=collection, catalogue_number=f"P-{k}")
            images.append(
                ImageFile.objects.create(
                    record=record, collection=collection, storage_key=f"originals/x/{k}", size=1000,
                    original_filename=f"{k}.jpg", source_path=f"{k}.jpg", sha256=f"{k:064x}", format="JPEG",
                    width=100, height=100, mode="RGB", state=ImageFile.State.READY,
                )
            )  # fmt: skip
        pair = CandidatePair.objects.create(
            image_a=images[0],
            image_b=images[1],
            phash_distance=0,
            dhash_distance=0,
            score=1.0,
            same_bytes=True,
        )
        ids.append(pair.pk)
    return ids


def test_a_batch_of_exact_copies_costs_the_same_statements_whatever_its_size():
    counts = []
    for n, offset in ((5, 0), (40, 100)):
        ids = plain_pairs(n, offset)
        with CaptureQueriesContext(connection) as queries:
            verification.verify_pairs(ids)
        counts.append(len(queries))
        assert CandidatePair.objects.filter(pk__in=ids, tier="auto").count() == n
        assert Decision.objects.filter(pair__in=ids, automatic=True).count() == n
    assert counts[1] <= counts[0] + 2, counts  # the per-pair path: ~15 statements more for every pair


def test_a_pair_another_worker_verified_first_is_left_alone():
    ids = plain_pairs(3)
    pairs = list(
        CandidatePair.objects.filter(pk__in=ids).select_related(
            "image_a__record", "image_b__record", "image_a__collection", "image_b__collection"
        )
    )
    CandidatePair.objects.filter(pk=ids[1]).update(verified=True, tier="review", tier_reason="by another")

    verification.settle_exact(pairs)

    assert CandidatePair.objects.get(pk=ids[1]).tier_reason == "by another"
    assert not Decision.objects.filter(pair=ids[1]).exists()
    assert Decision.objects.filter(pair__in=[ids[0], ids[2]]).count() == 2
