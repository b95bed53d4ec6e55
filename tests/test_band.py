"""Band decisions through HTTP: a supervisor chooses a collection, a relation and a score band, sees the
open pairs, the estimated precision of the suggested master with its 95% interval and a sample; accepting
the suggested master for all of them is one batch, refused below the collection's level, a proposal
under two-person rules, and reverted as one, exactly."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalogue.models import CatalogueRecord, Collection, ImageFile, RecordLink
from dedup.models import CandidatePair
from review import queue_counts, services
from review.models import BandDecision, Decision, ReviewItem

pytestmark = pytest.mark.django_db

FORM = {
    "auto_settle": "on",
    "keep_best": "resolution, richness, accession",
    "duplicate_relations": ["identical", "resized", "recompressed"],
    "phash": 10,
    "orientation": 8,
    "border": 10,
    "crop": 8,
}


def login(user):
    client = Client()
    client.force_login(user)
    return client


_numbers = iter(range(10**6))


def image(collection, width, **record_fields):
    n = next(_numbers)
    record = CatalogueRecord.objects.create(
        collection=collection, catalogue_number=f"B-{collection.pk}-{n:05d}", **record_fields
    )
    return ImageFile.objects.create(
        record=record,
        collection=collection,
        storage_key=f"originals/none/{n}",
        original_filename=f"{n}.jpg",
        source_path=f"{n}.jpg",
        size=1000 + width,
        sha256=f"{n:064x}",
        format="JPEG",
        width=width,
        height=width,
        mode="RGB",
    )


def pairs(collection, count, *, score=0.95, relation="resized", larger="b", other=None):
    """count review-tier pairs in the queue; the larger image (the suggested master by resolution) is
    image_b's unless larger="a"; image_b in other collection when given."""
    made = []
    for _n in range(count):
        a = image(collection, 400 if larger == "a" else 200)
        b = image(other or collection, 200 if larger == "a" else 400)
        made.append(
            CandidatePair.objects.create(
                image_a=a,
                image_b=b,
                phash_distance=3,
                dhash_distance=3,
                score=score,
                tier="review",
                relation=relation,
                priority=score,
                verified=True,
            )
        )
    services.sync_queue()
    return made


def band_page(client, collection, relation="resized", band="high"):
    url = reverse("review-supervisor-bands")
    response = client.get(url, {"collection": collection.pk, "relation": relation, "band": band})
    assert response.status_code == 200
    return response


def state():
    """Everything a band decision may change in the catalogue and the queue."""
    records = sorted(
        CatalogueRecord.objects.values_list(
            "pk", "status", "master_id", "title", "creator", "rights", "credit_line", "metadata"
        )
    )
    links = sorted(RecordLink.objects.values_list("record_a_id", "record_b_id", "note"))
    items = sorted(ReviewItem.objects.values_list("pk", "status", "decision_id"))
    return records, links, items


# --- the policy --------------------------------------------------------------------------------------


def test_the_level_defaults_to_099_and_an_administrator_sets_it_on_the_policy(client_for, collection):
    client = client_for("administrator")
    assert 'id="band-precision">0.99<' in client.get(collection.get_absolute_url()).content.decode()

    client.post(reverse("dedup-collection-policy", args=[collection.pk]), {**FORM, "band_precision": 0.995})

    collection.refresh_from_db()
    assert collection.policy["band_precision"] == 0.995
    assert 'id="band-precision">0.995<' in client.get(collection.get_absolute_url()).content.decode()


def test_a_level_out_of_range_is_refused_with_the_reason(client_for, collection):
    client = client_for("administrator")

    response = client.post(
        reverse("dedup-collection-policy", args=[collection.pk]), {**FORM, "band_precision": 1.5}, follow=True
    )

    collection.refresh_from_db()
    assert "band_precision" not in (collection.policy or {})
    assert "The policy was not changed" in response.content.decode()
    assert "less than or equal to 1" in response.content.decode()


# --- the estimate ------------------------------------------------------------------------------------


def test_wilson_interval_matches_the_published_values():
    from review.bands import wilson

    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(10, 10)
    assert round(low, 4) == 0.7225 and high == 1.0
    low, high = wilson(0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775
    low, high = wilson(81, 263)  # Wilson (1927) as tabulated by Newcombe (1998): 0.2553–0.3662
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, _high = wilson(381, 381)
    assert low >= 0.99 > wilson(380, 380)[0]


@pytest.fixture
def evidence(collection, personas):
    """The high band of "resized" in the collection: 3 pairs whose standing human decision kept the
    suggested master (image_b, the larger), and, not agreeing, 1 duplicate keeping the other image, 1
    related, 1 not related. Left out of the estimate: an undone duplicate, a reverted duplicate, an
    automatic one, a proposal waiting for approval, a skip. Around it, decisions in other bands,
    relations and collections that must not count. And 4 open pairs."""
    from review import approval, supervision

    cataloguer = personas["cataloguer"]
    made = pairs(collection, 12)
    for pair in made[:3]:
        services.decide_duplicate(pair, pair.image_b.record, actor=cataloguer)
    services.decide_duplicate(made[3], made[3].image_a.record, actor=cataloguer)
    services.decide(made[4], Decision.Kind.RELATED, actor=cataloguer)
    services.decide(made[5], Decision.Kind.DISTINCT, actor=cataloguer)
    services.decide_duplicate(made[6], made[6].image_b.record, actor=cataloguer)
    services.undo_last(cataloguer)
    reverted = services.decide_duplicate(made[7], made[7].image_b.record, actor=cataloguer)
    supervision.revert(reverted, personas["supervisor"])
    services.decide_duplicate(made[8], made[8].image_b.record, automatic=True, reason="byte-identical")
    services.decide(made[9], Decision.Kind.SKIP, actor=cataloguer)
    item = ReviewItem.objects.get(pair=made[10])
    approval.propose(item, made[10], cataloguer, Decision.Kind.DUPLICATE, "right", "", (), ["a rule"])
    # made[6], made[7] (back in the queue), made[9] (skipped) and made[11] are open: 4.
    elsewhere = Collection.objects.create(name="Elsewhere")
    for pair in (
        *pairs(collection, 2, score=0.8),
        *pairs(collection, 2, relation="recompressed"),
        *pairs(elsewhere, 2),
    ):
        services.decide_duplicate(pair, pair.image_a.record, actor=cataloguer)
    return made


def test_the_estimate_counts_standing_human_decisions_that_kept_the_suggested_master(
    client_for, collection, evidence
):
    from review.bands import wilson

    response = band_page(client_for("supervisor"), collection)

    estimate = response.context["estimate"]
    assert (estimate.agree, estimate.total) == (3, 6)
    assert (estimate.low, estimate.high) == wilson(3, 6)
    assert response.context["open"] == 4
    assert response.context["level"] == 0.99
    page = response.content.decode()
    assert "3 of 6 kept the suggested master" in page
    assert f'id="band-interval">{estimate.low:.3f} – {estimate.high:.3f}<' in page
    assert 'id="band-precision">0.500<' in page
    assert 'id="band-refusal"' in page and "0.500" in response.context["refusal"]


def test_the_suggested_master_is_the_one_the_pair_screen_suggests(client_for, collection, personas):
    # The keep-best rule puts richness first: now the smaller image_a, with a title, is suggested.
    collection.policy = {"keep_best": ["richness", "resolution"]}
    collection.save()
    made = pairs(collection, 3)
    for pair in made:
        CatalogueRecord.objects.filter(pk=pair.image_a.record_id).update(title="Harbour")
    services.decide_duplicate(made[0], made[0].image_a.record, actor=personas["cataloguer"])
    services.decide_duplicate(made[1], made[1].image_b.record, actor=personas["cataloguer"])
    client = client_for("supervisor")
    item = ReviewItem.objects.get(pair=made[2])
    services.claim(item.pk, personas["supervisor"])
    screen = client.get(reverse("review-item", args=[item.pk]))

    estimate = band_page(client, collection).context["estimate"]

    assert screen.context["suggestion"].side == "left"
    assert (estimate.agree, estimate.total) == (1, 2)


def test_the_page_costs_the_same_queries_however_many_pairs_are_open(client_for, collection, personas):
    client = client_for("supervisor")
    pairs(collection, 3)
    band_page(client, collection)
    with CaptureQueriesContext(connection) as few:
        band_page(client, collection)
    pairs(collection, 40)
    with CaptureQueriesContext(connection) as many:
        response = band_page(client, collection)

    assert response.context["open"] == 43
    assert len(many) == len(few)
    # The sample: 24 different open pairs of the band, no ORDER BY random() anywhere.
    sample = [row["item"] for row in response.context["sample"]]
    assert len({item.pk for item in sample}) == 24
    assert all(item.status == "open" and item.score >= 0.9 and item.relation == "resized" for item in sample)
    assert not [q for q in many.captured_queries if "RANDOM()" in q["sql"].upper()]
    assert response.content.decode().count('class="suggested"') == 24


def test_a_small_band_shows_all_its_pairs_and_counts_come_from_the_counters(client_for, collection):
    pairs(collection, 5)
    pairs(collection, 3, score=0.8)

    response = band_page(client_for("supervisor"), collection)

    assert response.context["open"] == 5 == len(response.context["sample"])
    cells = {(relation, key): n for relation, key, _label, n in response.context["cells"]}
    assert cells == {("resized", "high"): 5, ("resized", "good"): 3}
    # The counters, not the items, say how many: the page reads what the triggers keep.
    queue_counts.rebuild()
    assert band_page(client_for("supervisor"), collection).context["open"] == 5


def test_the_band_items_are_one_range_of_an_index_on_postgresql(on_postgres, collection, personas):
    from review import bands

    pairs(collection, 30)
    band = bands.Band(collection, "resized", "high")
    ids = bands.open_items(band, personas["supervisor"]).order_by().values_list("pk", flat=True)
    sql, params = ids.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a test table is small enough to scan
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "review_item_band" in plan


def test_only_supervisors_see_and_decide_bands(client_for, collection):
    pairs(collection, 2)
    for name in ("cataloguer", "outsider"):
        client = client_for(name)
        assert client.get(reverse("review-supervisor-bands")).status_code == 403
        response = client.post(
            reverse("review-supervisor-band-accept"),
            {"collection": collection.pk, "relation": "resized", "band": "high"},
        )
        assert response.status_code == 403
    assert ReviewItem.objects.filter(status="open").count() == 2


# --- the action --------------------------------------------------------------------------------------


def agreeing(collection, personas, count, level=0.7, **options):
    """count pairs decided by a cataloguer keeping the suggested (larger) image: the band's evidence.
    The collection's level is set to level, so a few decisions are enough (12 of 12: lower bound 0.76)."""
    collection.policy = {**(collection.policy or {}), "band_precision": level}
    collection.save()
    for pair in pairs(collection, count, **options):
        services.decide_duplicate(pair, pair.image_b.record, actor=personas["cataloguer"])


def accept(client, collection, relation="resized", band="high", **extra):
    return client.post(
        reverse("review-supervisor-band-accept"),
        {"collection": collection.pk, "relation": relation, "band": band, **extra},
        follow=True,
    )


def verify():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_a_band_below_its_precision_bound_is_refused_with_the_figures(client_for, collection, personas):
    agreeing(collection, personas, 34, level=0.9)  # 34 of 34: lower bound 0.8985, just below 0.9
    pairs(collection, 5)
    before = state()

    response = accept(client_for("supervisor"), collection)

    page = response.content.decode()
    assert "Refused: the estimated precision is 1.000 (95% interval 0.898 – 1.000, 34 of 34" in page
    assert "its lower bound 0.898 is below the 0.900 that the collections of its pairs require" in page
    assert state() == before
    assert not BandDecision.objects.exists()
    # One more agreeing decision and the same band is allowed: 35 of 35, lower bound 0.9011.
    agreeing(collection, personas, 1, level=0.9)
    assert "5 pairs decided as one batch" in accept(client_for("supervisor"), collection).content.decode()


def test_a_band_is_refused_at_a_stricter_level_and_without_evidence(client_for, collection, personas):
    client = client_for("supervisor")
    pairs(collection, 2)
    assert "No reviewed decisions in this band yet" in accept(client, collection).content.decode()
    agreeing(collection, personas, 12, level=0.7)
    # The pairs reach into a second collection whose level is stricter: the stricter one holds.
    strict = Collection.objects.create(name="Strict", policy={"band_precision": 0.95})
    pairs(collection, 1, other=strict)

    page = accept(client, collection).content.decode()

    assert "12 of 12" in page and "below the 0.950 that the collections of its pairs require" in page
    assert ReviewItem.objects.filter(status="open").count() == 3


def test_a_relation_the_collection_calls_related_is_never_accepted_as_duplicates(
    client_for, collection, personas
):
    agreeing(collection, personas, 12, relation="cropped")
    pairs(collection, 2, relation="cropped")

    page = accept(client_for("supervisor"), collection, relation="cropped").content.decode()

    assert "counts cropped as related but distinct" in page
    assert ReviewItem.objects.filter(status="open").count() == 2


def test_accepting_a_band_decides_every_open_pair_as_one_batch(client_for, collection, personas):
    agreeing(collection, personas, 12)
    open_pairs = pairs(collection, 6) + pairs(collection, 2, larger="a")
    other_band = pairs(collection, 2, score=0.8)
    held = pairs(collection, 1)[0]
    held_item = ReviewItem.objects.get(pair=held)
    services.claim(held_item.pk, personas["cataloguer"])

    response = accept(client_for("supervisor"), collection, comment="well calibrated")

    page = response.content.decode()
    assert "8 pairs decided as one batch" in page
    assert "1 being reviewed by someone else" in page
    found = BandDecision.objects.get()
    assert (found.pairs, found.agree, found.total, found.proposed) == (8, 12, 12, False)
    decided = Decision.objects.filter(batch=found.batch).order_by("pk")
    assert decided.count() == 8
    for pair in open_pairs:
        decision = decided.get(pair=pair)
        larger = pair.image_b if pair.image_b.width > pair.image_a.width else pair.image_a
        smaller = pair.image_a if larger is pair.image_b else pair.image_b
        assert (decision.kind, decision.master_id, decision.actor) == (
            "duplicate",
            larger.record_id,
            personas["supervisor"],
        )
        assert decision.comment == "well calibrated" and decision.evidence["band"]["total"] == 12
        assert CatalogueRecord.objects.get(pk=smaller.record_id).master_id == larger.record_id
        assert ReviewItem.objects.get(pair=pair).status == "decided"
    assert ReviewItem.objects.get(pk=held_item.pk).status == "open"
    assert set(ReviewItem.objects.filter(pair__in=other_band).values_list("status", flat=True)) == {"open"}
    assert "intact" in verify()
    # The batch's own decisions are not evidence for the band: the estimate is unchanged.
    estimate = band_page(client_for("supervisor"), collection).context["estimate"]
    assert (estimate.agree, estimate.total) == (12, 12)
    batch_page = client_for("supervisor").get(found.get_absolute_url()).content.decode()
    assert "8 applied, 0 waiting for approval, 0 reverted or declined" in batch_page


def test_under_two_person_rules_the_band_is_one_proposal_another_supervisor_approves(collection, personas):
    from django.contrib.auth.models import Group, User

    from catalogue.roles import SUPERVISOR

    agreeing(collection, personas, 12)
    collection.policy = {**(collection.policy or {}), "approval_rules": ["duplicate"]}
    collection.save()
    open_pairs = pairs(collection, 5)
    before = state()
    proposer = login(personas["supervisor"])

    page = accept(proposer, collection).content.decode()

    assert "5 decisions proposed as one batch" in page and "every duplicate decision needs approval" in page
    found = BandDecision.objects.get()
    assert found.proposed
    proposals = Decision.objects.filter(batch=found.batch)
    assert proposals.count() == 5 and all(p.pending for p in proposals)
    records, links, _items = state()
    assert (records, links) == before[:2]  # nothing changed in the catalogue
    assert set(ReviewItem.objects.filter(pair__in=open_pairs).values_list("status", flat=True)) == {"pending"}
    # The approvals page lists the batch once, not its five proposals.
    listed = proposer.get(reverse("review-approvals")).content.decode()
    assert listed.count(f'data-batch="{found.batch}"') == 1
    assert not any(f'data-decision="{p.pk}"' in listed for p in proposals)
    # The proposer cannot approve it.
    url = reverse("review-band-approve", args=[found.batch])
    refused = proposer.post(url, follow=True).content.decode()
    assert "you proposed this band decision yourself" in refused
    assert Decision.objects.filter(batch=found.batch, pending=False).count() == 0
    second = User.objects.create_user("second-supervisor")
    second.groups.add(Group.objects.get(name=SUPERVISOR))
    approver = login(second)
    assert "Approve the whole batch" in approver.get(found.get_absolute_url()).content.decode()

    done = approver.post(url, {"comment": "sample checked"}, follow=True).content.decode()

    assert "Band decision approved: 5 pairs decided." in done
    applied = Decision.objects.filter(batch=found.batch, pending=False)
    assert applied.count() == 5
    assert {d.actor for d in applied} == {second} and {d.approves.actor for d in applied} == {
        personas["supervisor"]
    }
    for pair in open_pairs:
        assert CatalogueRecord.objects.get(pk=pair.image_a.record_id).master_id == pair.image_b.record_id
    assert set(ReviewItem.objects.filter(pair__in=open_pairs).values_list("status", flat=True)) == {"decided"}
    assert "5 applied, 0 waiting for approval" in approver.get(found.get_absolute_url()).content.decode()
    assert "intact" in verify()


def test_a_declined_band_proposal_sends_every_pair_back(collection, personas):
    from django.contrib.auth.models import Group, User

    from catalogue.roles import SUPERVISOR

    agreeing(collection, personas, 12)
    collection.policy = {**(collection.policy or {}), "approval_rules": ["duplicate"]}
    collection.save()
    open_pairs = pairs(collection, 3)
    accept(login(personas["supervisor"]), collection)
    found = BandDecision.objects.get()
    second = User.objects.create_user("second-supervisor")
    second.groups.add(Group.objects.get(name=SUPERVISOR))

    login(second).post(reverse("review-band-decline", args=[found.batch]))

    assert set(ReviewItem.objects.filter(pair__in=open_pairs).values_list("status", flat=True)) == {"open"}
    assert Decision.objects.filter(batch=found.batch, kind=Decision.Kind.DECLINE).count() == 3
    assert "intact" in verify()


def test_reverting_a_band_batch_restores_the_catalogue_exactly(client_for, collection, personas):
    cataloguer = personas["cataloguer"]
    agreeing(collection, personas, 12)
    made = pairs(collection, 6)
    # Around the band: record X was superseded earlier by made[0]'s image_a record A, with its title
    # and rights merged into A; A is linked as related to another record C. The band then supersedes A
    # by B (the larger image): X follows B. The revert must put all of it back.
    (earlier,) = pairs(collection, 1, score=0.5)
    a = made[0].image_a.record
    x = earlier.image_a.record
    CatalogueRecord.objects.filter(pk=x.pk).update(title="Harbour, 1921", rights="CC BY 4.0")
    earlier.image_b.record = a
    earlier.image_b.save()
    earlier = CandidatePair.objects.get(pk=earlier.pk)
    services.decide_duplicate(earlier, a, actor=cataloguer, merge=("title", "rights"))
    (related,) = pairs(collection, 1, score=0.6)
    related.image_a.record = a
    related.image_a.save()
    services.decide(CandidatePair.objects.get(pk=related.pk), Decision.Kind.RELATED, actor=cataloguer)
    before = state()
    client = client_for("supervisor")
    accept(client, collection)
    found = BandDecision.objects.get()
    b = made[0].image_b.record
    assert CatalogueRecord.objects.get(pk=a.pk).master_id == b.pk
    assert CatalogueRecord.objects.get(pk=x.pk).resolve().pk == b.pk
    assert state() != before

    response = client.post(
        reverse("review-band-revert", args=[found.batch]), {"reason": "bad band"}, follow=True
    )

    assert "Band decision reverted: 6 decisions recorded" in response.content.decode()
    records, links, items = state()
    assert (records, links) == before[:2]
    a_now = CatalogueRecord.objects.get(pk=a.pk)
    assert (a_now.status, a_now.title, a_now.metadata["merged_fields"]["rights"]["value"]) == (
        "active",
        "Harbour, 1921",
        "CC BY 4.0",
    )
    assert set(ReviewItem.objects.filter(pair__in=made).values_list("status", flat=True)) == {"open"}
    reverts = Decision.objects.filter(kind=Decision.Kind.REVERT, corrects__batch=found.batch)
    assert reverts.count() == 6
    assert (
        "0 applied, 0 waiting for approval, 6 reverted or declined"
        in client.get(found.get_absolute_url()).content.decode()
    )
    assert "intact" in verify()
    # A second revert of the same batch records nothing more.
    again = client.post(reverse("review-band-revert", args=[found.batch]), follow=True)
    assert "already been undone or reverted" in again.content.decode()
    assert Decision.objects.filter(kind=Decision.Kind.REVERT).count() == 6


def test_pairs_the_batch_implies_are_closed_by_the_system_once(client_for, collection, personas):
    agreeing(collection, personas, 12)
    x, y, z = image(collection, 400), image(collection, 200), image(collection, 200)

    def pair(a, b, score):
        return CandidatePair.objects.create(
            image_a=a, image_b=b, phash_distance=3, dhash_distance=3, score=score, tier="review",
            relation="resized", priority=score, verified=True,
        )  # fmt: skip

    in_band = [pair(x, y, 0.95), pair(x, z, 0.95)]
    implied = pair(y, z, 0.8)  # another band: the batch does not decide it, its answers imply it
    services.sync_queue()

    accept(client_for("supervisor"), collection)

    assert {CatalogueRecord.objects.get(pk=i.record_id).master_id for i in (y, z)} == {x.record_id}
    item = ReviewItem.objects.get(pair=implied)
    assert item.status == "decided" and item.decision.automatic and item.decision.kind == "duplicate"
    assert set(ReviewItem.objects.filter(pair__in=in_band).values_list("status", flat=True)) == {"decided"}
    assert "intact" in verify()
