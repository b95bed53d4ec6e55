"""Pairs whose answer follows from decisions already taken are closed by a system decision that cites
them and never offered by the queue; contradicting decisions are flagged; undo and revert reopen what
they implied. Decisions through HTTP on the pair screen, then the queue."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalogue.models import RecordLink
from dedup import grouping
from dedup.models import CandidateGroup, CandidatePair
from review import services
from review.models import Decision, ReviewItem
from tests.test_groups_queue import image
from tests.test_review_corpus import make_pair
from tests.test_review_queue import start

pytestmark = pytest.mark.django_db

GROUPS = 3  # every scenario runs on several groups at once, so a count that leaks between them shows


def decide(client, pair, decision):
    item = ReviewItem.objects.get(pair=pair)
    client.post(reverse("review-claim", args=[item.pk]))
    response = client.post(reverse("review-decide", args=[item.pk]), {"decision": decision})
    assert response.status_code == 302
    services.release(response.wsgi_request.user)  # the screen leased the next item: leave it to others
    return ReviewItem.objects.get(pk=item.pk).decision


def picture(collection, name):
    """Three records of one picture, A, B and C (A made first, so A is every pair's left), and their
    three pairs, all in the queue."""
    a, b, c = (image(collection, f"{name}-{side}") for side in "ABC")
    pairs = {
        key: make_pair(x, y, score=0.8) for key, (x, y) in {"AB": (a, b), "BC": (b, c), "AC": (a, c)}.items()
    }
    return (a, b, c), pairs


def pictures(collection, n=GROUPS):
    return [picture(collection, f"P{g}") for g in range(n)]


def status(pair):
    return ReviewItem.objects.get(pair=pair).status


def offered(client):
    """Every pair the queue offers, in order, skipping each (so the next is offered)."""
    seen = []
    for _attempt in range(50):
        response = start(client)
        if not response["Location"].startswith("/review/items/"):
            return seen
        item = ReviewItem.objects.get(
            pk=int(response["Location"].split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        )
        seen.append(item.pair_id)
        client.post(reverse("review-decide", args=[item.pk]), {"decision": "skip"})
    raise AssertionError("the queue kept offering pairs")


def test_a_equals_b_and_b_equals_c_close_a_c_by_a_system_decision_citing_both(client_for, collection):
    made = pictures(collection)
    client = client_for("cataloguer")
    decided = []
    for _records, pairs in made:
        decided.append((decide(client, pairs["AB"], "keep-left"), decide(client, pairs["BC"], "keep-left")))

    for ((a, _b, c), pairs), (ab, bc) in zip(made, decided, strict=True):
        item = ReviewItem.objects.get(pair=pairs["AC"])
        system = item.decision
        assert item.status == "decided"
        assert (system.kind, system.automatic, system.actor, system.master_id) == (
            "duplicate",
            True,
            None,
            a.record_id,
        )
        assert system.evidence["implied_by"] == [ab.pk, bc.pk]
        assert f"decision {ab.pk}" in system.reason and f"decision {bc.pk}" in system.reason
        assert a.record.catalogue_number in system.reason and c.record.catalogue_number in system.reason
        assert system.before == system.after == []  # it changed nothing in the catalogue
    assert Decision.objects.filter(automatic=True).count() == GROUPS
    assert Decision.objects.filter(automatic=False).count() == 2 * GROUPS
    assert offered(client) == []
    page = client.get(reverse("review-queue")).content.decode()
    assert "Nothing is waiting" in page or "0" in page


def test_only_the_pairs_the_decisions_imply_are_closed(client_for, collection):
    made = pictures(collection)
    client = client_for("cataloguer")
    (_records, first), *others = made
    decide(client, first["AB"], "keep-left")
    decide(client, first["BC"], "keep-left")

    assert status(first["AC"]) == "decided"
    assert all(status(pair) == "open" for _records, pairs in others for pair in pairs.values())
    assert set(offered(client)) == {pair.pk for _records, pairs in others for pair in pairs.values()}


def test_a_related_to_b_and_b_equals_c_imply_a_related_to_c(client_for, collection):
    made = pictures(collection)
    client = client_for("cataloguer")
    for _records, pairs in made:
        related = decide(client, pairs["AB"], "related")
        # C kept as master of B: the link A–B now stands for A and C's record group.
        same = decide(client, pairs["BC"], "keep-right")
        system = ReviewItem.objects.get(pair=pairs["AC"]).decision
        assert (system.kind, system.automatic, system.evidence["implied_by"]) == (
            "related",
            True,
            [related.pk, same.pk],
        )
        assert "related" in system.reason
    assert RecordLink.objects.count() == GROUPS  # the system decision links nothing itself
    assert offered(client) == []


def test_not_related_carries_over_the_same_record(client_for, collection):
    made = pictures(collection)
    client = client_for("cataloguer")
    for _records, pairs in made:
        distinct = decide(client, pairs["AB"], "distinct")
        same = decide(client, pairs["BC"], "keep-left")
        system = ReviewItem.objects.get(pair=pairs["AC"]).decision
        assert (system.kind, system.evidence["implied_by"]) == ("distinct", [distinct.pk, same.pk])
    assert Decision.objects.filter(automatic=True, kind="distinct").count() == GROUPS


def test_a_new_pair_whose_answer_is_already_decided_never_enters_the_queue(client_for, collection):
    client = client_for("cataloguer")
    for g in range(GROUPS):
        a, b, c = (image(collection, f"Q{g}-{side}") for side in "ABC")
        decide(client, make_pair(a, b, score=0.8), "keep-left")
        decide(client, make_pair(b, c, score=0.8), "keep-left")
        late = make_pair(a, c, score=0.9)  # verified later, queued by the tier rules
        assert status(late) == "decided"
        assert ReviewItem.objects.get(pair=late).decision.automatic
    assert offered(client) == []


def test_decisions_that_contradict_each_other_flag_the_pair_for_a_supervisor(client_for, collection):
    client = client_for("cataloguer")
    for g in range(GROUPS):
        (a, _b, c), pairs = picture(collection, f"X{g}")
        d = image(collection, f"X{g}-D")
        cd = make_pair(c, d, score=0.8)
        ad = make_pair(a, d, score=0.8)
        decide(client, pairs["AC"], "escalate")
        decide(client, pairs["AB"], "keep-left")
        decide(client, pairs["BC"], "keep-left")
        # A supervisor decides the escalated pair against the group: A and C not related.
        supervisor = client_for("supervisor")
        distinct = decide(supervisor, pairs["AC"], "distinct")
        assert distinct.kind == "distinct" and not distinct.flagged
        client = client_for("cataloguer")
        joined = decide(client, ad, "keep-left")  # D joins the group A, B, C

        item = ReviewItem.objects.get(pair=cd)
        flag = Decision.objects.get(pair=cd, flagged=True)
        assert item.status == "escalated"
        assert (flag.kind, flag.automatic, flag.actor) == ("escalate", True, None)
        assert set(flag.evidence["contradicting"]) == {"duplicate", "distinct"}
        assert distinct.pk in flag.evidence["contradicting"]["distinct"]
        assert joined.pk in flag.evidence["contradicting"]["duplicate"]
        assert "contradict" in flag.reason
    assert Decision.objects.filter(flagged=True, automatic=True).count() == GROUPS
    assert offered(client) == []
    assert ReviewItem.objects.filter(status="escalated").count() == GROUPS


def test_undo_of_a_equals_b_reopens_a_c(client_for, collection, personas):
    made = pictures(collection)
    client = client_for("cataloguer")
    for _records, pairs in made:
        decide(client, pairs["BC"], "keep-left")
    last_ab = [decide(client, pairs["AB"], "keep-left") for _records, pairs in made][-1]
    (_records, pairs) = made[-1]
    closed = ReviewItem.objects.get(pair=pairs["AC"]).decision
    assert closed.automatic and last_ab.pk in closed.evidence["implied_by"]

    client.post(reverse("review-undo"))

    item = ReviewItem.objects.get(pair=pairs["AC"])
    assert (item.status, item.decision) == ("open", None)
    correction = Decision.objects.get(corrects=closed)
    assert (correction.kind, correction.automatic, correction.actor) == ("revert", True, None)
    assert f"decision {last_ab.pk}" in correction.reason
    # The other groups keep their closed pairs; the reopened one is offered again, with the undone one.
    assert [status(p["AC"]) for _r, p in made[:-1]] == ["decided"] * (GROUPS - 1)
    assert set(offered(client_for("cataloguer"))) == {pairs["AC"].pk, pairs["AB"].pk}


def test_a_supervisors_revert_reopens_what_the_decision_implied_without_flagging_it(client_for, collection):
    made = pictures(collection)
    client = client_for("cataloguer")
    for _records, pairs in made:
        decide(client, pairs["AB"], "keep-left")
        decide(client, pairs["BC"], "keep-left")
    (_records, pairs) = made[0]
    basis = ReviewItem.objects.get(pair=pairs["AB"]).decision
    closed = ReviewItem.objects.get(pair=pairs["AC"]).decision

    client_for("supervisor").post(reverse("review-supervisor-revert", args=[basis.pk]))

    assert status(pairs["AC"]) == "open"
    assert Decision.objects.filter(corrects=closed, automatic=True).exists()
    assert not Decision.objects.filter(pair=pairs["AC"], flagged=True).exists()
    assert (
        Decision.objects.filter(automatic=True, corrections__isnull=True, kind="duplicate").count()
        == GROUPS - 1
    )


def test_a_pair_still_implied_by_other_decisions_is_closed_again_after_an_undo(client_for, collection):
    a, b, c, d = (image(collection, f"R-{side}") for side in "ABCD")
    client = client_for("cataloguer")
    ad, dc = make_pair(a, d, score=0.8), make_pair(c, d, score=0.8)
    ab, bc = make_pair(a, b, score=0.8), make_pair(b, c, score=0.8)
    ac = make_pair(a, c, score=0.8)
    decide(client, ad, "keep-left")
    decide(client, dc, "keep-right")  # A = D = C: A–C closed citing those two
    first = ReviewItem.objects.get(pair=ac).decision
    decide(client, ab, "keep-left")
    decide(client, bc, "keep-left")

    client.post(reverse("review-undo"))  # B = C undone: A–C never rested on it

    assert ReviewItem.objects.get(pair=ac).decision == first
    assert status(ac) == "decided"


def test_closing_implied_pairs_costs_the_same_however_many_other_pairs_wait(client_for, collection):
    client = client_for("cataloguer")

    def queries_of_the_closing_decision(prefix, waiting):
        for n in range(waiting):
            x, y = image(collection, f"{prefix}-w{n}-x"), image(collection, f"{prefix}-w{n}-y")
            make_pair(x, y, score=0.5)
        (_a, _b, _c), pairs = picture(collection, prefix)
        decide(client, pairs["AB"], "keep-left")
        item = ReviewItem.objects.get(pair=pairs["BC"])
        client.post(reverse("review-claim", args=[item.pk]))
        with CaptureQueriesContext(connection) as captured:
            client.post(reverse("review-decide", args=[item.pk]), {"decision": "keep-left"})
        assert status(pairs["AC"]) == "decided"
        return len(captured)

    few = queries_of_the_closing_decision("S", 2)
    many = queries_of_the_closing_decision("T", 40)
    assert many == few


# --- the group's proposed master ------------------------------------------------------------------


def strip_master(client, pair):
    """The proposed master the pair screen's group strip names, and the side its suggestion badges."""
    item = ReviewItem.objects.get(pair=pair)
    page = client.get(reverse("review-item", args=[item.pk])).content.decode()
    masters = re.findall(r"<span>([\w-]+) · proposed master", page)
    suggested = re.search(
        r'<strong>(Left|Right)</strong> ([\w-]+) [^<]*\s*<span class="badge">suggested master', page
    )
    return masters, suggested.group(2) if suggested else None


def test_the_group_strips_proposed_master_is_the_pairs_suggestion_and_follows_decisions(
    client_for, collection, django_capture_on_commit_callbacks
):
    client = client_for("cataloguer")
    made = []
    for g in range(GROUPS):
        # M has the most pixels: keep-best suggests it over X, and X over Y.
        m, x, y = (
            image(collection, f"G{g}-{name}", width=w) for name, w in (("M", 400), ("X", 300), ("Y", 200))
        )
        pairs = {
            "MX": make_pair(m, x, score=0.8),
            "MY": make_pair(m, y, score=0.8),
            "XY": make_pair(x, y, score=0.8),
        }
        made.append(((m, x, y), pairs))
    grouping.regroup_pairs([pair.pk for _images, pairs in made for pair in pairs.values()])

    for (m, _x, _y), pairs in made:
        assert strip_master(client, pairs["MX"]) == ([m.record.catalogue_number], m.record.catalogue_number)
        assert strip_master(client, pairs["MY"]) == ([m.record.catalogue_number], m.record.catalogue_number)

    for _images, pairs in made:  # the cataloguer keeps X, against the suggestion
        with django_capture_on_commit_callbacks(execute=True):
            decide(client, pairs["MX"], "keep-right")

    for (_m, x, _y), pairs in made:
        number = x.record.catalogue_number
        assert strip_master(client, pairs["XY"]) == ([number], number)
        assert CandidatePair.objects.get(pk=pairs["XY"].pk).group.master_id == x.pk
    assert CandidateGroup.objects.count() == GROUPS


def test_the_system_decisions_reason_is_in_the_language_of_the_one_who_decided(client_for, collection):
    client = client_for("cataloguer")
    client.post(reverse("catalogue-set-language"), {"language": "zh-hant"})
    (a, _b, c), pairs = picture(collection, "Z")
    ab, bc = decide(client, pairs["AB"], "keep-left"), decide(client, pairs["BC"], "keep-left")

    reason = ReviewItem.objects.get(pair=pairs["AC"]).decision.reason

    assert reason.startswith(f"{a.record.catalogue_number} 與 {c.record.catalogue_number} 已是同一紀錄：")
    assert f"決定 {ab.pk} 將" in reason and f"決定 {bc.pk} 將" in reason


def test_the_groups_proposed_master_is_the_source_of_sources_not_the_largest_file(client_for, collection):
    # U is O upscaled 2× (the most pixels), C a downscale of U: keep-best alone would propose U.
    client = client_for("cataloguer")
    made = []
    for g in range(GROUPS):
        o, u, c = (
            image(collection, f"O{g}-{name}", width=w) for name, w in (("O", 200), ("U", 400), ("C", 100))
        )
        pairs = {
            "OU": make_pair(
                o, u, score=0.8, relation="upscaled", source=o, derivation="upscaled", params={"scale": 2}
            ),
            "UC": make_pair(u, c, score=0.8, relation="resized", source=u, derivation="downscaled"),
            "OC": make_pair(o, c, score=0.8, relation="resized"),  # no direction between these two
        }
        made.append((o, pairs))
    grouping.regroup_pairs([pair.pk for _o, pairs in made for pair in pairs.values()])

    for o, pairs in made:
        number = o.record.catalogue_number
        assert CandidatePair.objects.get(pk=pairs["OU"].pk).group.master_id == o.pk
        assert strip_master(client, pairs["OU"]) == ([number], number)
        assert strip_master(client, pairs["OC"]) == ([number], number)
    assert CandidateGroup.objects.count() == GROUPS


def test_a_declined_proposal_whose_answer_was_decided_meanwhile_is_closed_by_the_system(
    client_for, collection
):
    collection.policy = {**(collection.policy or {}), "approval_rules": ["distinct"]}
    collection.save()
    made = pictures(collection)
    client = client_for("cataloguer")
    proposals = [decide(client, pairs["AC"], "distinct") for _records, pairs in made]  # wait for approval
    for _records, pairs in made:
        decide(client, pairs["AB"], "keep-left")
        decide(client, pairs["BC"], "keep-left")
    assert [status(pairs["AC"]) for _r, pairs in made] == ["pending"] * GROUPS

    supervisor = client_for("supervisor")
    for proposal in proposals:
        supervisor.post(reverse("review-decline", args=[proposal.pk]))

    for _records, pairs in made:
        item = ReviewItem.objects.get(pair=pairs["AC"])
        assert item.status == "decided" and item.decision.automatic and item.decision.kind == "duplicate"
    assert offered(client_for("cataloguer")) == []


def test_decisions_through_the_api_close_implied_pairs_too(client_for, collection, personas):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(personas["cataloguer"])
    made = pictures(collection)
    assert api.get("/api/pairs/", {"status": "open"}).json()["count"] == 3 * GROUPS
    for _records, pairs in made:
        for key in ("AB", "BC"):
            response = api.post(
                "/api/decisions/",
                {"pair": pairs[key].pk, "kind": "duplicate", "master_side": "left"},
                format="json",
            )
            assert response.status_code == 201, response.content

    for _records, pairs in made:
        listed = api.get("/api/pairs/", {"status": "open"}).json()
        assert pairs["AC"].pk not in [row["id"] for row in listed["results"]]
        assert ReviewItem.objects.get(pair=pairs["AC"]).decision.automatic
    assert api.get("/api/pairs/", {"status": "open"}).json()["count"] == 0
