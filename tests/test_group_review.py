"""The group screen's submit (review.groups): one decision per pair under one batch, two-person rules
per pair, contradictions refused whole, undo and revert of the whole submit; the groups overview."""

import itertools
import threading

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalogue.models import CatalogueRecord, ImageFile, RecordLink
from dedup.models import CandidateGroup, CandidatePair
from review import decisions, groups, services, supervision
from review.models import Decision, ReviewItem
from tests.test_audit_chain import verify

_numbers = itertools.count(5000)


def make_group(collection, size=5, all_pairs=True, score=0.8, relation="resized"):
    """A candidate group of size images, the first the proposed master, with a review-tier pair between
    the master and each other member (and between every two members when all_pairs)."""
    images = []
    for _ in range(size):
        n = next(_numbers)
        record = CatalogueRecord.objects.create(collection=collection, catalogue_number=f"G-{n:05d}")
        images.append(
            ImageFile.objects.create(
                record=record,
                collection=collection,
                storage_key=f"originals/none/{n}",
                original_filename=f"{n}.jpg",
                source_path=f"{n}.jpg",
                size=1000 + n,
                sha256=f"{n:064x}",
                format="JPEG",
                width=100,
                height=100,
                mode="RGB",
            )
        )
    group = CandidateGroup.objects.create(master=images[0])
    group.members.set(images)
    couples = itertools.combinations(images, 2) if all_pairs else ((images[0], other) for other in images[1:])
    for a, b in couples:
        a, b = (a, b) if a.pk < b.pk else (b, a)
        CandidatePair.objects.create(
            image_a=a,
            image_b=b,
            phash_distance=2,
            dhash_distance=2,
            score=score,
            tier="review",
            relation=relation,
            priority=score,
            verified=True,
            group=group,
        )
    services.sync_queue()
    return group, images


def seen(group):
    return sorted(groups.open_items(group, False).values_list("pair_id", flat=True))


def state():
    records = sorted(CatalogueRecord.objects.values_list("pk", "status", "master_id"))
    return records, sorted(RecordLink.objects.values_list("record_a_id", "record_b_id"))


def test_a_group_submit_with_mixed_answers_records_one_decision_per_pair_under_one_batch(
    collection, personas
):
    group, (m, d1, d2, r, n) = make_group(collection, 5)
    user = personas["cataloguer"]
    marks = {d1.pk: "duplicate", d2.pk: "duplicate", r.pk: "related", n.pk: "distinct"}

    batch, recorded, left = groups.submit(group.pk, user, m.pk, marks, seen(group))

    # 10 pairs: m-d1, m-d2, d1-d2 duplicate; m-r, d1-r, d2-r related; m-n, d1-n, d2-n not related;
    # r-n is not answered by the marks and stays in the queue.
    kinds = sorted(Decision.objects.filter(batch=batch).values_list("kind", flat=True))
    closed = Decision.objects.filter(automatic=True).exclude(batch=batch)
    assert len(kinds) + closed.count() == 9 and left == 1
    assert {d.batch for d in recorded} == {batch}
    every = dict(Decision.objects.filter(pair__group=group).values_list("pair_id", "kind"))
    assert sorted(every.values()) == ["distinct"] * 3 + ["duplicate"] * 3 + ["related"] * 3
    for image in (d1, d2):
        image.record.refresh_from_db()
        assert image.record.status == CatalogueRecord.Status.SUPERSEDED
        assert image.record.master_id == m.record_id
    for image in (r, n):
        image.record.refresh_from_db()
        assert image.record.status == CatalogueRecord.Status.ACTIVE
    assert RecordLink.objects.filter(record_a__in=[m.record, r.record]).exists()
    still_open = ReviewItem.objects.filter(pair__group=group, status=ReviewItem.Status.OPEN)
    assert list(still_open.values_list("pair__image_a", "pair__image_b")) == [tuple(sorted((r.pk, n.pk)))]
    assert "intact" in verify()


def test_two_person_rules_apply_per_pair(collection, personas):
    collection.policy = {**(collection.policy or {}), "approval_rules": ["related"]}
    collection.save()
    group, (m, d, r) = make_group(collection, 3)
    user = personas["cataloguer"]

    batch, recorded, _left = groups.submit(
        group.pk, user, m.pk, {d.pk: "duplicate", r.pk: "related"}, seen(group)
    )

    by_kind = {(x.kind, x.pending) for x in Decision.objects.filter(batch=batch)}
    assert (Decision.Kind.DUPLICATE, False) in by_kind and (Decision.Kind.RELATED, True) in by_kind
    pending = ReviewItem.objects.filter(pair__group=group, status=ReviewItem.Status.PENDING)
    assert pending.count() == 2  # m-r and d-r wait for a supervisor; nothing linked yet
    assert not RecordLink.objects.exists()


def test_a_contradiction_inside_a_group_is_refused_naming_the_members(collection, personas):
    group, (m, a, b, c) = make_group(collection, 4)
    user = personas["cataloguer"]
    # Earlier: a and b were found not related.
    pair_ab = CandidatePair.objects.get(
        image_a=min(a, b, key=lambda i: i.pk), image_b=max(a, b, key=lambda i: i.pk)
    )
    decisions.decide(pair_ab, Decision.Kind.DISTINCT, actor=personas["supervisor"])
    before, chain = state(), Decision.objects.count()

    with pytest.raises(groups.GroupError) as refusal:
        groups.submit(
            group.pk, user, m.pk, {a.pk: "duplicate", b.pk: "duplicate", c.pk: "related"}, seen(group)
        )

    message = str(refusal.value)
    assert "Nothing was recorded" in message
    assert a.record.catalogue_number in message and b.record.catalogue_number in message
    assert state() == before and Decision.objects.count() == chain


def test_two_files_of_one_record_marked_apart_are_refused(collection, personas):
    group, (m, a, b) = make_group(collection, 3)
    b.record = a.record
    b.save()
    before = state()

    with pytest.raises(groups.GroupError, match=a.record.catalogue_number):
        groups.submit(
            group.pk, personas["cataloguer"], m.pk, {a.pk: "duplicate", b.pk: "distinct"}, seen(group)
        )
    with pytest.raises(groups.GroupError, match="no answer"):
        groups.submit(group.pk, personas["cataloguer"], m.pk, {a.pk: "duplicate"}, seen(group))
    assert state() == before and not Decision.objects.exists()


def test_a_group_changed_since_it_was_shown_is_refused(collection, personas):
    group, (m, a, b) = make_group(collection, 3)
    shown = seen(group)
    decisions.decide(
        CandidatePair.objects.filter(group=group).first(), Decision.Kind.RELATED, actor=personas["supervisor"]
    )

    with pytest.raises(groups.GroupError, match="changed since you opened it"):
        groups.submit(group.pk, personas["cataloguer"], m.pk, {a.pk: "duplicate", b.pk: "duplicate"}, shown)


def test_undo_takes_back_the_whole_submit(collection, personas):
    group, (m, a, b, c) = make_group(collection, 4)
    user = personas["cataloguer"]
    before = state()
    batch, recorded, _left = groups.submit(
        group.pk, user, m.pk, {a.pk: "duplicate", b.pk: "duplicate", c.pk: "distinct"}, seen(group)
    )
    assert state() != before

    services.undo_last(user)

    assert state() == before
    undone = Decision.objects.filter(kind=Decision.Kind.UNDO)
    assert set(undone.values_list("corrects__batch", flat=True)) == {batch}
    assert undone.count() == len(recorded) and len(set(undone.values_list("batch", flat=True))) == 1
    assert ReviewItem.objects.filter(pair__group=group).exclude(status=ReviewItem.Status.OPEN).count() == 0
    assert "intact" in verify()


def test_a_supervisor_reverts_the_whole_submit_exactly(collection, personas):
    group, (m, a, b, c, d) = make_group(collection, 5)
    before = state()
    batch, recorded, _left = groups.submit(
        group.pk,
        personas["cataloguer"],
        m.pk,
        {a.pk: "duplicate", b.pk: "duplicate", c.pk: "related", d.pk: "duplicate"},
        seen(group),
    )

    reverts = supervision.revert_batch(batch, personas["supervisor"], reason="wrong master")

    assert state() == before
    assert len(reverts) == len(recorded)
    assert set(ReviewItem.objects.filter(pair__group=group).values_list("status", flat=True)) == {"open"}
    assert "intact" in verify()


# --- the pages ---------------------------------------------------------------------------------------


def test_the_group_screen_submits_and_says_what_it_recorded(client_for, collection):
    group, (m, a, b) = make_group(collection, 3)
    client = client_for("cataloguer")
    page = client.get(reverse("review-group", args=[group.pk]))
    assert page.status_code == 200
    assert a.record.catalogue_number in page.content.decode()

    response = client.post(
        reverse("review-group", args=[group.pk]),
        {
            "master": m.pk,
            f"mark-{a.pk}": "duplicate",
            f"mark-{b.pk}": "related",
            "seen": ",".join(map(str, seen(group))),
        },
        follow=True,
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "decisions recorded" in body and "stay in the queue" not in body
    assert not ReviewItem.objects.filter(pair__group=group).exclude(status=ReviewItem.Status.DECIDED).exists()
    a.record.refresh_from_db()
    assert a.record.master_id == m.record_id


def test_the_group_screen_shows_a_refusal(client_for, collection):
    group, (m, a, b) = make_group(collection, 3)
    client = client_for("cataloguer")
    response = client.post(
        reverse("review-group", args=[group.pk]),
        {"master": m.pk, f"mark-{a.pk}": "duplicate", "seen": ",".join(map(str, seen(group)))},
        follow=True,
    )
    assert "no answer" in response.content.decode()
    assert not Decision.objects.exists()


def test_the_overview_lists_open_groups_easiest_first_at_a_constant_cost(client_for, collection, personas):
    easy, _ = make_group(collection, 4, score=0.95)
    hard, _ = make_group(collection, 3, score=0.55)
    client = client_for("cataloguer")
    url = reverse("review-groups")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        page = client.get(url)
    body = page.content.decode()
    assert body.index(f'href="{reverse("review-group", args=[easy.pk])}"') < body.index(
        f'href="{reverse("review-group", args=[hard.pk])}"'
    )
    for _ in range(6):
        make_group(collection, 5, score=0.7)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url)
    assert page.content.decode().count('class="group-row"') == 8
    assert len(many) == len(few)


def test_the_overview_pages_by_keyset_without_repeating_a_group(collection, personas):
    made = [make_group(collection, 3, score=0.5 + n / 20)[0].pk for n in range(7)]
    user = personas["cataloguer"]
    listed, cursor = [], None
    for _ in range(5):
        rows, cursor = groups.overview(user, {}, after=cursor, size=3)
        listed += [row["group"].pk for row in rows]
        if cursor is None:
            break
    assert sorted(listed) == sorted(made) and len(listed) == len(set(listed))
    assert listed == sorted(made, reverse=True)  # higher score: easier, first
    rows, _ = groups.overview(user, {"relation": "cropped"})
    assert rows == []


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------


def test_two_supervisors_submitting_overlapping_groups_decide_no_pair_twice(
    on_postgres, transactional_db, collection, personas
):
    group, (m, a, b, c, d) = make_group(collection, 5)
    other = personas["supervisor"]
    users = [personas["cataloguer"], other]
    shown = seen(group)
    marks = [
        {a.pk: "duplicate", b.pk: "duplicate", c.pk: "duplicate", d.pk: "duplicate"},
        {a.pk: "duplicate", b.pk: "related", c.pk: "distinct", d.pk: "duplicate"},
    ]
    barrier = threading.Barrier(2)
    results, errors = [None, None], []

    def run(index):
        try:
            barrier.wait()
            results[index] = groups.submit(group.pk, users[index], m.pk, marks[index], shown)
        except groups.GroupError as refusal:
            results[index] = refusal
        except Exception as exc:  # noqa: BLE001 - reported below (a deadlock would be one)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    won = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, groups.GroupError)]
    assert len(won) == 1 and len(refused) == 1
    settling = Decision.objects.filter(kind__in=decisions.SETTLING, corrections__isnull=True, pending=False)
    per_pair = settling.values_list("pair_id", flat=True)
    assert len(list(per_pair)) == len(set(per_pair))
    assert "intact" in verify()


def test_the_group_screen_and_its_refusals_are_in_the_readers_language(client_for, collection):
    group, (m, a, b) = make_group(collection, 3)
    client = client_for("cataloguer")
    client.post(reverse("catalogue-set-language"), {"language": "zh-hant"})

    assert "提交整個影像組" in client.get(reverse("review-group", args=[group.pk])).content.decode()
    response = client.post(
        reverse("review-group", args=[group.pk]),
        {"master": m.pk, f"mark-{a.pk}": "duplicate", "seen": ",".join(map(str, seen(group)))},
        follow=True,
    )
    assert "尚未標記" in response.content.decode()
    assert "候選影像組" in client.get(reverse("review-groups")).content.decode()


def test_a_supervisor_reverts_a_whole_submit_from_the_page_and_a_cataloguer_cannot(
    client_for, collection, personas
):
    group, (m, a, b) = make_group(collection, 3)
    before = state()
    batch, _recorded, _left = groups.submit(
        group.pk, personas["cataloguer"], m.pk, {a.pk: "duplicate", b.pk: "duplicate"}, seen(group)
    )
    url = reverse("review-batch-revert")

    assert client_for("cataloguer").post(url, {"batch": str(batch)}).status_code == 403
    assert state() != before
    response = client_for("supervisor").post(url, {"batch": str(batch), "reason": "not copies"}, follow=True)

    assert "Reverted" in response.content.decode()
    assert state() == before
    reverts = Decision.objects.filter(kind=Decision.Kind.REVERT, actor=personas["supervisor"])
    assert set(reverts.values_list("reason", flat=True)) == {"not copies"}


def _writes(queries):
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_opening_the_group_screen_writes_nothing(client_for, collection):
    group, (m, a, b) = make_group(collection, 3)
    client = client_for("cataloguer")
    client.get(reverse("review-groups"))  # a person's first request notes their language in the session
    items = ReviewItem.objects.filter(pair__group=group).order_by("pk")
    before = list(items.values_list("pk", "status", "leased_by", "lease_expires_at", "updated_at"))

    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("review-group", args=[group.pk]))

    assert page.status_code == 200 and "3 pairs wait for a decision" in page.content.decode()
    assert _writes(queries) == []
    assert list(items.values_list("pk", "status", "leased_by", "lease_expires_at", "updated_at")) == before


def test_two_people_who_opened_one_group_cannot_submit_over_each_other(client_for, collection, personas):
    group, (m, a, b) = make_group(collection, 3)
    url = reverse("review-group", args=[group.pk])
    first, second = client_for("cataloguer"), Client()
    second.force_login(personas["supervisor"])
    shown = seen(group)
    assert first.get(url).status_code == 200
    assert second.get(url).status_code == 200  # both look at it: nothing is leased by looking
    assert not ReviewItem.objects.filter(pair__group=group, leased_by__isnull=False).exists()

    answers = {"master": m.pk, f"mark-{a.pk}": "duplicate", f"mark-{b.pk}": "duplicate"}
    done = first.post(url, {**answers, "seen": ",".join(map(str, shown))}, follow=True)
    assert "decisions recorded" in done.content.decode()
    after_first = (state(), Decision.objects.count())
    refused = second.post(
        url, {**answers, f"mark-{b.pk}": "related", "seen": ",".join(map(str, shown))}, follow=True
    )

    assert "changed since you opened it" in refused.content.decode()
    assert not Decision.objects.filter(actor=personas["supervisor"]).exists()
    assert (state(), Decision.objects.count()) == after_first


def test_a_submit_is_refused_whole_while_someone_holds_a_pair_of_the_group(client_for, collection, personas):
    group, (m, a, b) = make_group(collection, 3)
    held = ReviewItem.objects.filter(pair__image_a=a, pair__image_b=b).get()
    assert services.claim(held.pk, personas["supervisor"])  # on the pair screen
    before = state()

    with pytest.raises(groups.GroupError, match="Someone else is reviewing pairs of this group"):
        groups.submit(
            group.pk, personas["cataloguer"], m.pk, {a.pk: "duplicate", b.pk: "duplicate"}, seen(group)
        )

    assert not Decision.objects.exists() and state() == before
    # Nothing of the refused submit is leased to its author either.
    assert not ReviewItem.objects.filter(leased_by=personas["cataloguer"]).exists()


def test_the_submit_leases_the_pairs_its_marks_leave_open_to_its_author(collection, personas):
    group, (m, r, n) = make_group(collection, 3)
    user = personas["cataloguer"]

    marks = {r.pk: "related", n.pk: "distinct"}  # the pair of r and n: not answered by these

    _batch, recorded, left = groups.submit(group.pk, user, m.pk, marks, seen(group))

    assert (len(recorded), left) == (2, 1)
    open_item = ReviewItem.objects.get(pair__group=group, status=ReviewItem.Status.OPEN)
    assert open_item.leased_by == user and not open_item.lease_held_by_other(user, timezone.now())
    assert ReviewItem.objects.filter(pair__group=group, leased_by__isnull=False).count() == 1


def test_the_first_mark_holds_the_group_so_nobody_takes_its_pairs_meanwhile(client_for, collection, personas):
    group, (m, a, b) = make_group(collection, 3)
    hold = reverse("review-group-hold", args=[group.pk])
    first, second = client_for("cataloguer"), Client()
    second.force_login(personas["supervisor"])
    shown = ",".join(map(str, seen(group)))

    held = first.post(hold, {"seen": shown})

    assert held.status_code == 200 and held.json()["held"] is True
    items = ReviewItem.objects.filter(pair__group=group)
    assert items.count() == 3
    assert set(items.values_list("leased_by", flat=True)) == {personas["cataloguer"].pk}
    # The other person is told at once, from their first mark; the pair screen does not hand them a pair
    # of the group either.
    refused = second.post(hold, {"seen": shown})
    assert refused.status_code == 409 and "Someone else is reviewing pairs" in refused.json()["message"]
    assert not services.claim(items.first().pk, personas["supervisor"])
    assert set(items.values_list("leased_by", flat=True)) == {personas["cataloguer"].pk}
    # The holder's submit goes through.
    answers = {"master": m.pk, f"mark-{a.pk}": "duplicate", f"mark-{b.pk}": "duplicate", "seen": shown}
    done = first.post(reverse("review-group", args=[group.pk]), answers, follow=True)
    # The third pair follows from the two answers (review.implied).
    assert "2 decisions recorded" in done.content.decode()
    assert not items.exclude(status=ReviewItem.Status.DECIDED).exists()


def test_holding_a_group_changed_since_it_was_shown_is_refused(client_for, collection):
    group, (m, a, b) = make_group(collection, 3)
    client = client_for("cataloguer")
    stale = ",".join(map(str, seen(group)[:2]))

    refused = client.post(reverse("review-group-hold", args=[group.pk]), {"seen": stale})

    assert refused.status_code == 409 and "changed since you opened it" in refused.json()["message"]
    assert not ReviewItem.objects.filter(pair__group=group, leased_by__isnull=False).exists()
    assert client.get(reverse("review-group-hold", args=[group.pk])).status_code == 405
