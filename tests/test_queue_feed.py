"""The pipeline feeds the review queue: the tier rules queue a pair in the transaction that puts it in
the review tier; the queue page only reads; sync_queue is a repair step (resume_pending, repair_queue)."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dedup import tasks
from dedup.models import CandidatePair
from review.models import ReviewItem
from tests.test_review_corpus import add_image, encode, make_pair, picture

pytestmark = pytest.mark.django_db


def waiting_pair(collection, n=0):
    base = picture(500 + n, (240, 180))
    original = add_image(collection, f"Q-{n}", encode(base, quality=92))
    copy = add_image(collection, f"Q-{n}-web", encode(base.resize((180, 135))))
    pair = make_pair(original, copy, score=0.9, queued=False)
    CandidatePair.objects.filter(pk=pair.pk).update(verified=False, tier="", relation="")
    return pair


def test_verification_queues_the_pair_it_puts_in_the_review_tier(collection, client_for):
    pairs = [waiting_pair(collection, n) for n in range(3)]

    tasks.verify_batch.delay([p.pk for p in pairs])

    assert CandidatePair.objects.filter(tier=CandidatePair.Tier.REVIEW).count() == 3
    items = ReviewItem.objects.filter(pair__in=pairs, status=ReviewItem.Status.OPEN)
    assert items.count() == 3
    page = client_for("cataloguer").get(reverse("review-queue"))
    assert page.context["total"] == 3


def test_a_failed_transaction_queues_nothing(collection, monkeypatch):
    pair = waiting_pair(collection)
    monkeypatch.setattr("review.services.queue_pairs", lambda pairs: (_ for _ in ()).throw(RuntimeError("x")))

    with pytest.raises(RuntimeError):
        tasks.verify_batch.delay([pair.pk]).get()

    pair.refresh_from_db()
    assert not pair.verified and not ReviewItem.objects.exists()  # tier and item together or neither


def test_the_queue_page_writes_nothing(collection, client_for):
    pair = waiting_pair(collection)
    CandidatePair.objects.filter(pk=pair.pk).update(verified=True, tier=CandidatePair.Tier.REVIEW)
    cataloguer = client_for("cataloguer")
    cataloguer.get(reverse("review-queue"))  # the session and anything lazy settle first

    with CaptureQueriesContext(connection) as queries:
        page = cataloguer.get(reverse("review-queue"))

    assert page.status_code == 200
    writes = [q["sql"] for q in queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
    assert not ReviewItem.objects.exists()  # a pair the pipeline did not queue stays for the repair


def test_the_repair_step_queues_what_the_pipeline_missed(collection):
    pairs = [waiting_pair(collection, n) for n in range(3)]
    CandidatePair.objects.filter(pk__in=[p.pk for p in pairs[:2]]).update(
        verified=True, tier=CandidatePair.Tier.REVIEW
    )

    tasks.resume_pending.delay().get()

    assert set(ReviewItem.objects.values_list("pair_id", flat=True)) >= {pairs[0].pk, pairs[1].pk}
    out = io.StringIO()
    call_command("repair_queue", stdout=out)
    assert "Queued 0" in out.getvalue()
