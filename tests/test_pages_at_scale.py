"""Listing pages at archive scale, in the small: no page's queries grow with its rows (no N+1), the
queue's counts come out right from the counters with several items per collection, relation and band
across collections (one of them hidden from the viewer), the decision log pages by position, and the
figures and charts cover the last 30 days unless a period is chosen. bench/review.py measures the
same pages at 1M images and 1M pairs."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalogue.models import Collection
from review import decisions, services
from review.models import Decision, ReviewItem
from review.rereview import ReReview, ReReviewItem
from tests.test_audit_chain import make_pairs

pytestmark = pytest.mark.django_db


def text(response):
    assert response.status_code == 200, response.status_code
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def archive(personas):
    harbour = Collection.objects.create(name="Harbour")
    mills = Collection.objects.create(name="Mills")
    return harbour, mills


def grow(archive, personas, start):
    """Pairs in both collections with every kind of decision, a proposal waiting for approval and a
    re-review sample: the rows every listing page lists or counts."""
    cataloguer, supervisor = personas["cataloguer"], personas["supervisor"]
    made = []
    for n, collection in enumerate(archive):
        pairs = make_pairs(collection, 6, start=start + 100 * n)
        services.decide_duplicate(pairs[0], pairs[0].image_a.record, actor=cataloguer)
        services.decide(pairs[1], Decision.Kind.RELATED, actor=cataloguer)
        services.decide(pairs[2], Decision.Kind.DISTINCT, actor=supervisor)
        services.decide(pairs[3], Decision.Kind.ESCALATE, actor=cataloguer)
        decisions.record(Decision.Kind.DUPLICATE, pair=pairs[4], actor=cataloguer, pending=True)
        made += pairs
    # One sample that grows with the archive (its page lists every item), and a new one each time.
    sample = ReReview.objects.order_by("pk").first() or ReReview.objects.create(created_by=supervisor)
    ReReview.objects.create(created_by=supervisor)
    for decision in Decision.objects.filter(kind=Decision.Kind.DISTINCT):
        ReReviewItem.objects.get_or_create(sample=sample, decision=decision)
    return made


PAGES = [
    ("administrator", "catalogue-collections", None),
    ("administrator", "catalogue-collection", "collection"),
    ("cataloguer", "review-queue", None),
    ("supervisor", "review-supervisor-decisions", None),
    ("supervisor", "review-supervisor-figures", None),
    ("supervisor", "review-supervisor-charts", None),
    ("supervisor", "review-supervisor-exports", None),
    ("supervisor", "review-supervisor-calibration", None),
    ("supervisor", "review-rereview-samples", None),
    ("supervisor", "review-approvals", None),
    # The filtered variants bench/review.py measures, one re-review sample and the item screen.
    ("supervisor", "review-supervisor-decisions", "?collection={collection}&kind=distinct"),
    ("supervisor", "review-supervisor-decisions", "?number=C-0001"),
    ("supervisor", "review-supervisor-decisions", "?flagged=on"),
    ("supervisor", "review-supervisor-figures", "?start=2020-01-01"),
    ("supervisor", "review-supervisor-charts", "?start=2020-01-01"),
    ("supervisor", "review-approvals", "?collection={collection}"),
    ("supervisor", "review-rereview", "sample"),
    ("cataloguer", "review-item", "item"),
]


def _url(name, arg, archive):
    if arg == "collection":
        return reverse(name, args=[archive[0].pk])
    if arg == "sample":
        return reverse(name, args=[ReReview.objects.order_by("pk").first().pk])
    if arg == "item":
        return reverse(name, args=[ReviewItem.objects.filter(status="open").order_by("pk").first().pk])
    return reverse(name) + (arg or "").format(collection=archive[0].pk)


def queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured)


@pytest.mark.parametrize(("persona", "name", "arg"), PAGES)
def test_a_listing_page_makes_as_many_queries_for_many_rows_as_for_few(
    client_for, archive, personas, persona, name, arg
):
    grow(archive, personas, start=0)
    url = _url(name, arg, archive)
    client = client_for(persona)
    client.get(url)  # the session and the user's roles, as on every later request
    few = queries(client, url)
    grow(archive, personas, start=1000)
    grow(archive, personas, start=2000)
    assert queries(client, url) == few


def test_the_queue_counts_items_per_collection_relation_and_band(client_for, archive, personas):
    harbour, mills = archive
    partners = Group.objects.create(name="Partners")
    mills.restricted_to.set([partners])  # the cataloguer is not a partner: Mills is not counted for them
    harbour_pairs = make_pairs(harbour, 7)  # scores 0.5, 0.6 ... 1.1: fair ×3, good ×1, high ×3
    make_pairs(mills, 4, start=500)
    harbour_pairs[6].review_item.delete()  # a pair without its item (repair by sync_queue): not counted
    cropped = ReviewItem.objects.filter(pair__in=harbour_pairs[:2])
    cropped.update(relation="cropped")
    services.decide(harbour_pairs[2], Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    services.decide(harbour_pairs[3], Decision.Kind.ESCALATE, actor=personas["cataloguer"])
    ReviewItem.objects.filter(pair=harbour_pairs[3]).update(status=ReviewItem.Status.ESCALATED)
    # Waiting: pairs 0, 1 (cropped; 0.5 and 0.6: fair), 4 and 5 (resized; 0.9 and 1.0: high).
    page = text(client_for("cataloguer").get(reverse("review-queue")))
    assert "4 pairs wait for a decision." in page
    assert re.search(r"cropped</a></td><td class=\"num\">2<", page)
    assert re.search(r"resized</a></td><td class=\"num\">2<", page)
    assert re.search(r'value="fair"[^>]*>[^<]*\(2\)', page)
    assert re.search(r'value="high"[^>]*>[^<]*\(2\)', page)
    assert re.search(r'value="good"[^>]*>[^<]*\(0\)', page)
    assert "Mills" not in page
    filters = {"relation": "cropped", "band": "fair"}
    filtered = text(client_for("cataloguer").get(reverse("review-queue"), filters))
    assert "2 pairs match these filters." in filtered
    supervisor = text(client_for("supervisor").get(reverse("review-queue"), {"escalated": "1"}))
    assert "1 pair waits for a decision." in supervisor
    personas["cataloguer"].groups.add(partners)
    assert "8 pairs wait for a decision." in text(client_for("cataloguer").get(reverse("review-queue")))


def test_the_decision_log_pages_by_position_in_the_log(client_for, archive, personas):
    pairs = make_pairs(archive[0], 60)
    for pair in pairs:
        services.decide(pair, Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    client = client_for("supervisor")
    url = reverse("review-supervisor-decisions")
    first = text(client.get(url))
    assert "60 decisions" in first
    shown = re.findall(r'data-decision="(\d+)"', first)
    assert len(shown) == 50
    older = re.search(r'href="\?&amp;older=(\d+)"', first).group(1)
    second = text(client.get(url, {"older": older}))
    rest = re.findall(r'data-decision="(\d+)"', second)
    assert len(rest) == 10 and not set(rest) & set(shown)
    assert "&amp;older=" not in second
    newer = re.search(r'href="\?&amp;newer=(\d+)"', second).group(1)
    assert re.findall(r'data-decision="(\d+)"', text(client.get(url, {"newer": newer}))) == shown


# The cataloguer's row on the figures page, with n decisions.
ROW = r'data-cataloguer="cataloguer"> <td><a [^>]*>cataloguer</a></td> <td class="num">{n}<'


def test_figures_and_charts_cover_the_last_30_days_unless_a_start_is_chosen(client_for, archive, personas):
    pairs = make_pairs(archive[0], 3)
    long_ago = timezone.now() - timedelta(days=45)
    with mock.patch("review.models.timezone.now", return_value=long_ago):
        services.decide(pairs[0], Decision.Kind.DISTINCT, actor=personas["cataloguer"])
        services.decide(pairs[1], Decision.Kind.RELATED, actor=personas["cataloguer"])
    services.decide(pairs[2], Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    client = client_for("supervisor")
    figures = text(client.get(reverse("review-supervisor-figures")))
    assert 'id="default-period"' in figures
    assert re.search(ROW.format(n=1), figures)
    start = (timezone.localdate() - timedelta(days=60)).isoformat()
    chosen = text(client.get(reverse("review-supervisor-figures"), {"start": start}))
    assert 'id="default-period"' not in chosen
    assert re.search(ROW.format(n=3), chosen)
    charts = client.get(reverse("review-supervisor-charts"), {"start": start})
    assert charts.status_code == 200 and long_ago.date().isoformat() in charts.content.decode()


@pytest.mark.parametrize("listed", [20_000, 0])
def test_the_log_and_figures_leave_out_pairs_touching_a_hidden_collection(
    client_for, archive, personas, monkeypatch, listed
):
    from catalogue.models import CatalogueRecord, ImageFile
    from dedup.models import CandidatePair
    from review import views_supervisor

    monkeypatch.setattr(views_supervisor, "HIDDEN_IMAGES_LISTED", listed)  # listed ids, or the joins
    harbour, mills = archive
    mills.restricted_to.set([Group.objects.create(name="Partners")])
    seen = make_pairs(harbour, 2)
    inside = make_pairs(mills, 1, start=300)[0]
    # A pair across the border: Harbour's image with a Mills image.
    record = CatalogueRecord.objects.create(collection=mills, catalogue_number="M-X")
    image = ImageFile.objects.create(
        record=record, collection=mills, storage_key="k", original_filename="x.jpg", source_path="x.jpg",
        size=1, sha256="f" * 64, format="JPEG", width=1, height=1, mode="RGB",
    )
    across = CandidatePair.objects.create(
        image_a=seen[0].image_a, image_b=image, phash_distance=1, dhash_distance=1, score=0.9
    )
    for pair in (*seen, inside, across):
        services.decide(pair, Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    client = client_for("supervisor")
    log = text(client.get(reverse("review-supervisor-decisions")))
    shown = {int(pk) for pk in re.findall(r'data-decision="(\d+)"', log)}
    assert shown == set(Decision.objects.filter(pair__in=seen).values_list("pk", flat=True))
    assert "2 decisions" in log
    assert re.search(ROW.format(n=2), text(client.get(reverse("review-supervisor-figures"))))
