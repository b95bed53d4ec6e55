"""Sample re-review through HTTP: a supervisor draws a sample, another person re-decides blind, the
sample page shows the disagreements side by side and the agreement rate."""

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from catalogue.roles import CATALOGUER
from review import rereview, services
from review.models import Decision
from tests.test_audit_chain import make_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def decided(collection, personas):
    """Four standing decisions by the cataloguer, one undone, one automatic."""
    pairs = make_pairs(collection, 6)
    cataloguer = personas["cataloguer"]
    services.decide_duplicate(pairs[0], pairs[0].image_a.record, actor=cataloguer)
    services.decide(pairs[1], Decision.Kind.RELATED, actor=cataloguer)
    services.decide(pairs[2], Decision.Kind.DISTINCT, actor=cataloguer)
    services.decide(pairs[3], Decision.Kind.DISTINCT, actor=cataloguer)
    services.decide(pairs[4], Decision.Kind.DISTINCT, actor=cataloguer)
    services.undo_last(cataloguer)
    services.decide_duplicate(pairs[5], pairs[5].image_b.record, automatic=True, reason="identical")
    return pairs


def draw(client, **data):
    return client.post(reverse("review-rereview-draw"), {"size": 10, **data})


@pytest.fixture
def colleague(personas):
    user = User.objects.create_user("colleague")
    user.groups.add(Group.objects.get(name=CATALOGUER))
    return user


def test_a_supervisor_draws_a_sample_of_standing_human_decisions(client_for, decided, personas):
    response = draw(client_for("supervisor"), cataloguer=personas["cataloguer"].pk)
    sample = rereview.ReReview.objects.get()
    assert response.status_code == 302 and response.url == sample.get_absolute_url()
    kinds = sorted(item.decision.kind for item in sample.items.all())
    assert kinds == ["distinct", "distinct", "duplicate", "related"]
    assert sample.created_by == personas["supervisor"] and sample.filters["drawn"] == 4


def test_the_size_caps_the_sample(client_for, decided):
    draw(client_for("supervisor"), size=2)
    assert rereview.ReReview.objects.get().items.count() == 2


def test_a_period_with_no_decisions_draws_nothing(client_for, decided):
    draw(client_for("supervisor"), start="2001-01-01", end="2001-12-31")
    assert rereview.ReReview.objects.get().items.count() == 0


def test_a_cataloguer_cannot_draw_or_read_samples(client_for, decided):
    client = client_for("cataloguer")
    assert draw(client).status_code == 403
    assert client.get(reverse("review-rereview-samples")).status_code == 403
    assert not rereview.ReReview.objects.exists()


def test_the_re_reviewer_does_not_see_the_first_decision(client_for, decided, colleague, client):
    draw(client_for("supervisor"))
    sample = rereview.ReReview.objects.get()
    client.force_login(colleague)
    response = client.get(reverse("review-rereview-next", args=[sample.pk]))
    assert response.status_code == 302
    page = client.get(response.url)
    assert page.status_code == 200
    item = page.context["item"]
    html = page.content.decode()
    # The three answers are offered alike, none chosen; nothing of the first decision is on the page.
    assert "checked" not in html
    assert all(html.count(f'value="{kind}"') == 1 for kind in ("duplicate", "related", "distinct"))
    assert item.decision.hash not in html and "Decided by" not in html


def test_the_first_decider_cannot_re_review_their_own(client_for, decided):
    draw(client_for("supervisor"))
    sample = rereview.ReReview.objects.get()
    item = sample.items.first()
    client = client_for("cataloguer")
    assert client.get(reverse("review-rereview-item", args=[item.pk])).status_code == 403
    response = client.post(reverse("review-rereview-item", args=[item.pk]), {"kind": "distinct"})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.kind == ""
    assert "rereview-done" in client.get(reverse("review-rereview-next", args=[sample.pk])).content.decode()


def test_disagreements_are_listed_side_by_side_with_the_agreement_rate(client_for, decided, personas):
    client = client_for("supervisor")
    draw(client)
    sample = rereview.ReReview.objects.get()
    # The supervisor re-reviews: agree on all but the duplicate, which they call related.
    for item in sample.items.select_related("decision"):
        verdict = "related" if item.decision.kind == "duplicate" else item.decision.kind
        response = client.post(reverse("review-rereview-item", args=[item.pk]), {"kind": verdict})
        assert response.status_code == 302
    assert "rereview-done" in client.get(reverse("review-rereview-next", args=[sample.pk])).content.decode()
    response = client.get(sample.get_absolute_url())
    assert response.context["figures"] == {"total": 4, "done": 4, "agreed": 3, "rate": 0.75}
    [disagreement] = response.context["disagreements"]
    assert (disagreement.decision.kind, disagreement.kind) == ("duplicate", "related")
    assert disagreement.reviewer == personas["supervisor"]
    assert 'id="agreement-rate">75%' in response.content.decode()
    # The cataloguers' figures carry the same agreement, per person.
    figures = client.get(reverse("review-supervisor-figures"))
    (person,) = [p for p in figures.context["figures"] if p["name"] == "cataloguer"]
    assert (person["rereviewed"], person["agreement"]) == (4, 0.75)
    assert '<td class="num agreement">75%</td>' in figures.content.decode()


def test_an_item_is_re_reviewed_once(client_for, decided, colleague, client):
    draw(client_for("supervisor"))
    item = rereview.ReReview.objects.get().items.first()
    client.force_login(colleague)
    client.post(reverse("review-rereview-item", args=[item.pk]), {"kind": "distinct"})
    client.post(reverse("review-rereview-item", args=[item.pk]), {"kind": "duplicate"})
    item.refresh_from_db()
    assert (item.kind, item.reviewer) == ("distinct", colleague)
