"""Attacks on the roles and on restricted collections, from inside (issue 14, findings 1, 2, 3, 6, 8, 10
and 13), each through the public surface (admin pages, supervisor pages, exports, the API, the build).

The attackers: an Administrator with admin access who wants to be superuser, or to see, rewrite or
delete what decisions and imports recorded; a supervisor or cataloguer outside a partner's group who
wants that partner's restricted collection (its catalogue numbers, its record ids, its decisions); a
hostile manifest whose catalogue numbers and file names are spreadsheet formulas; and a change that
quietly breaks the production build. Each test says which one it plays and what it tries."""

import csv
import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django import forms
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalogue.models import CatalogueRecord, Collection, ImageFile
from catalogue.roles import SUPERVISOR
from dedup.models import CandidatePair
from mastercopy import spreadsheet
from review import rereview, services
from review.models import Decision
from tests.conftest import REPO
from tests.test_audit_chain import make_pairs

pytestmark = pytest.mark.django_db

HIDDEN = "Partner Mirror"


@pytest.fixture
def partner(personas, collection, django_user_model):
    """The open collection (C-0000 ~ C-0001), a collection restricted to "Partner staff" (C-0500 ~
    C-0501, files 500.jpg, 501.jpg), and a partner cataloguer and supervisor in that group."""
    staff = Group.objects.create(name="Partner staff")
    mirror = Collection.objects.create(name=HIDDEN, institution="Partner Museum")
    mirror.restricted_to.set([staff])
    (open_pair,) = make_pairs(collection, 1)
    (hidden_pair,) = make_pairs(mirror, 1, start=500)
    member = django_user_model.objects.create_user("partner-cataloguer")
    member.groups.set([*personas["cataloguer"].groups.all(), staff])
    boss = django_user_model.objects.create_user("partner-supervisor")
    boss.groups.set([Group.objects.get(name=SUPERVISOR), staff])
    return {"mirror": mirror, "open": open_pair, "hidden": hidden_pair, "member": member, "boss": boss}


def login(user):
    client = Client()
    client.force_login(user)
    return client


def staff(user):
    """What the finding's attacker had: an Administrator a superuser let into Django admin."""
    user.is_staff = True
    user.save()
    return login(user)


def form_data(form):
    """A bound-looking copy of form's current values, as a browser posts them back."""
    data = {}
    for field in form:
        if field.field.disabled:
            continue
        value = field.field.prepare_value(field.value())
        if isinstance(field.field.widget, forms.MultiWidget):
            for n, part in enumerate(field.field.widget.decompress(value)):
                data[f"{field.html_name}_{n}"] = "" if part is None else str(part)
        elif isinstance(value, bool):
            if value:
                data[field.html_name] = "on"
        elif isinstance(value, list | tuple):
            data[field.html_name] = [str(v) for v in value]
        elif value is not None:
            data[field.html_name] = str(value)
    return data


def change_form_data(response):
    """Everything an admin change page would post unchanged: its form and its inlines' formsets."""
    data = form_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data.update(form_data(inline.formset.management_form))
        for form in inline.formset.forms:
            data.update(form_data(form))
    return data


def text(response):
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


# --- finding 1 / deliverable 2: admin is no way around the roles ------------------------------------


def test_an_administrator_cannot_make_itself_superuser(personas):
    """Attack: an Administrator in Django admin posts its own user form with is_superuser, is_staff
    and every group ticked, and tries to create a group holding every permission. The role has no
    account permissions and the account pages are a superuser's only: both are refused."""
    admin_user = personas["administrator"]
    client = staff(admin_user)
    url = reverse("admin:auth_user_change", args=[admin_user.pk])
    posted = client.post(
        url,
        {
            "username": admin_user.username,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [str(g.pk) for g in Group.objects.all()],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    group = client.post(reverse("admin:auth_group_add"), {"name": "Everything"})

    admin_user.refresh_from_db()
    assert posted.status_code == 403 and group.status_code == 403
    assert not admin_user.is_superuser
    assert sorted(admin_user.groups.values_list("name", flat=True)) == ["Administrator"]
    assert not Group.objects.filter(name="Everything").exists()
    for name in ("admin:auth_user_changelist", "admin:auth_user_add", "admin:auth_group_changelist"):
        assert client.get(reverse(name)).status_code == 403, name
    assert not admin_user.has_perm("auth.change_user") and not admin_user.has_perm("auth.add_user")


def test_a_superuser_still_manages_accounts_but_deletes_none(personas, django_user_model):
    """Attack on the fix: locking accounts must leave them to superusers, who can still give a
    cataloguer a role, but not delete an account (its decisions keep naming it: deactivate)."""
    root = django_user_model.objects.create_superuser("root", password="x")
    client = login(root)
    cataloguer = personas["cataloguer"]
    url = reverse("admin:auth_user_change", args=[cataloguer.pk])
    data = change_form_data(client.get(url))
    data["groups"] = [str(g.pk) for g in Group.objects.filter(name__in=["Cataloguer", "Supervisor"])]

    changed = client.post(url, data)
    deleted = client.post(reverse("admin:auth_user_delete", args=[cataloguer.pk]), {"post": "yes"})

    assert changed.status_code == 302
    assert sorted(cataloguer.groups.values_list("name", flat=True)) == ["Cataloguer", "Supervisor"]
    assert deleted.status_code == 403 and django_user_model.objects.filter(pk=cataloguer.pk).exists()


def test_admin_lists_and_opens_nothing_of_a_restricted_collection(partner, personas):
    """Attack: an Administrator outside the partner's group browses Django admin for the partner's
    collection, records, files and decisions (lists, filters, search, a change page by id). Admin
    holds to catalogue.access like the pages: nothing of it is shown, and its pages are not there."""
    hidden = partner["hidden"]
    services.decide_duplicate(hidden, hidden.image_a.record, actor=partner["member"])
    services.decide(partner["open"], Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    client = staff(personas["administrator"])

    pages = {
        name: text(client.get(reverse(f"admin:{name}_changelist"), {"q": "C-05"} if "record" in name else {}))
        for name in (
            "catalogue_collection",
            "catalogue_cataloguerecord",
            "catalogue_imagefile",
            "catalogue_importbatch",
            "review_decision",
            "review_reviewitem",
        )
    }
    records = text(client.get(reverse("admin:catalogue_cataloguerecord_changelist")))
    record_page = client.get(
        reverse("admin:catalogue_cataloguerecord_change", args=[hidden.image_a.record_id])
    )
    image_page = client.get(reverse("admin:catalogue_imagefile_change", args=[hidden.image_a.pk]))
    collection_page = client.get(reverse("admin:catalogue_collection_change", args=[partner["mirror"].pk]))

    for name, page in pages.items():
        assert HIDDEN not in page and "C-0500" not in page and "500.jpg" not in page, name
    assert "C-0000" in records and HIDDEN not in records  # the open collection is there; filters too
    assert "Harbour Photographs" in text(client.get(reverse("admin:catalogue_imagefile_changelist")))
    for response in (record_page, image_page, collection_page):
        assert response.status_code == 302 and response.url == reverse("admin:index")  # "does not exist"
    decision_ids = text(client.get(reverse("admin:review_decision_changelist")))
    hidden_decision = Decision.objects.get(pair=hidden)
    assert reverse("admin:review_decision_change", args=[hidden_decision.pk]) not in decision_ids


def test_admin_cannot_supersede_a_record_without_a_decision(partner, personas):
    """Attack: an Administrator edits a record in admin and posts status=superseded and a master,
    another number, another collection, and forged provenance of a merged value, which would change
    the catalogue with no Decision in the audit chain. Those belong to decisions (the collection to
    access, the number to whoever cites it): the edit keeps only the record's description."""
    pair = partner["open"]
    record, other = pair.image_a.record, pair.image_b.record
    provenance = {"title": {"value": "Harbour", "from_record": other.pk, "from_number": "C-0001"}}
    CatalogueRecord.objects.filter(pk=record.pk).update(metadata={"merged_fields": provenance})
    client = staff(personas["administrator"])
    url = reverse("admin:catalogue_cataloguerecord_change", args=[record.pk])
    data = change_form_data(client.get(url))
    data.update(
        title="Harbour, 1921",
        status="superseded",
        master=str(other.pk),
        collection=str(partner["mirror"].pk),
        catalogue_number="RENUMBERED",
        metadata='{"photographer": "A. Lee", "merged_fields": {"title": {"from_number": "FORGED"}}}',
    )

    response = client.post(url, data)

    record.refresh_from_db()
    assert response.status_code == 302
    assert record.title == "Harbour, 1921"
    assert record.metadata == {"photographer": "A. Lee", "merged_fields": provenance}
    assert (record.status, record.master_id) == ("active", None)
    assert (record.collection.name, record.catalogue_number) == ("Harbour Photographs", "C-0000")
    assert not Decision.objects.exists()


def test_an_open_records_admin_page_does_not_name_its_hidden_master(partner, personas):
    """Attack: an Administrator opens, in admin, an open record that a partner member superseded by
    a record in the partner's collection, to read the master's number there."""
    record = _superseded_by_hidden(partner)
    client = staff(personas["administrator"])

    page = text(client.get(reverse("admin:catalogue_cataloguerecord_change", args=[record.pk])))
    listing = text(client.get(reverse("admin:catalogue_cataloguerecord_changelist")))

    assert "C-0600" in page and "superseded" in page
    assert "C-0700" not in page and HIDDEN not in page and "a record in a collection you cannot see" in page
    assert "C-0700" not in listing


# --- finding 13: nothing is deleted, superuser included ---------------------------------------------


def test_nobody_deletes_images_records_or_collections(partner, django_user_model):
    """Attack: a superuser deletes an image (its pairs would cascade, leaving the record and stored
    file orphaned), a record and a collection in admin, one by one and with the "delete selected"
    action. Archives do not delete: every attempt is refused and everything stays."""
    root = django_user_model.objects.create_superuser("root", password="x")
    client = login(root)
    pair = partner["open"]
    image, record, collection = pair.image_a, pair.image_a.record, pair.image_a.collection

    refused = [
        client.post(reverse("admin:catalogue_imagefile_delete", args=[image.pk]), {"post": "yes"}),
        client.post(reverse("admin:catalogue_cataloguerecord_delete", args=[record.pk]), {"post": "yes"}),
        client.post(reverse("admin:catalogue_collection_delete", args=[collection.pk]), {"post": "yes"}),
    ]
    for name, pk in (
        ("catalogue_imagefile", image.pk),
        ("catalogue_cataloguerecord", record.pk),
        ("catalogue_collection", collection.pk),
    ):
        client.post(
            reverse(f"admin:{name}_changelist"),
            {"action": "delete_selected", "_selected_action": [pk], "post": "yes"},
        )

    assert [r.status_code for r in refused] == [403, 403, 403]
    assert ImageFile.objects.filter(pk=image.pk).exists()
    assert CatalogueRecord.objects.filter(pk=record.pk).exists()
    assert Collection.objects.filter(pk=collection.pk).exists()
    assert CandidatePair.objects.filter(pk=pair.pk).exists()
    assert ImageFile.objects.count() == 4 and CatalogueRecord.objects.count() == 4


# --- finding 2: a period revert stays within what the supervisor can see ----------------------------


def test_a_period_revert_leaves_decisions_in_hidden_collections_alone(partner, personas):
    """Attack: a supervisor outside the partner's group reverts a partner cataloguer's whole period,
    which also holds decisions in the partner's collection that the supervisor cannot see. Only the
    decisions the supervisor can see are reverted; the partner's stay, records untouched."""
    member = partner["member"]
    open_pair, hidden = partner["open"], partner["hidden"]
    seen = services.decide_duplicate(open_pair, open_pair.image_a.record, actor=member)
    unseen = services.decide_duplicate(hidden, hidden.image_a.record, actor=member)
    services.decide(make_pairs(partner["mirror"], 1, start=520)[0], Decision.Kind.RELATED, actor=member)
    now = timezone.localtime()
    period = {
        "cataloguer": member.pk,
        "start": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "bad afternoon",
    }

    response = login(personas["supervisor"]).post(reverse("review-supervisor-revert-period"), period)

    assert response.status_code == 302
    assert seen.corrections.count() == 1
    assert not unseen.corrections.exists()
    assert Decision.objects.filter(kind=Decision.Kind.REVERT).count() == 1
    superseded = CatalogueRecord.objects.get(pk=hidden.image_b.record_id)
    assert (superseded.status, superseded.master_id) == ("superseded", hidden.image_a.record_id)
    assert CatalogueRecord.objects.get(pk=open_pair.image_b.record_id).status == "active"


# --- finding 3: re-review samples are filtered by collection access ---------------------------------


def test_rereview_samples_with_hidden_decisions_are_not_shown(partner, personas):
    """Attack: a supervisor and a cataloguer outside the partner's group open a re-review sample that
    a partner supervisor drew over both collections (the list, the sample's page with its
    disagreements, and its next item) to read the partner's catalogue numbers. The sample is a 404
    to them, as a hidden object is; the partner supervisor still sees it whole."""
    member, boss = partner["member"], partner["boss"]
    open_pair, hidden = partner["open"], partner["hidden"]
    services.decide_duplicate(open_pair, open_pair.image_a.record, actor=member)
    services.decide_duplicate(hidden, hidden.image_a.record, actor=member)
    sample = rereview.draw(boss, 10, visible=None)
    for item in sample.items.all():
        item.record(boss, Decision.Kind.DISTINCT, "not the same print")  # two disagreements
    supervisor, cataloguer = login(personas["supervisor"]), login(personas["cataloguer"])

    listing = text(supervisor.get(reverse("review-rereview-samples")))
    page = supervisor.get(reverse("review-rereview", args=[sample.pk]))
    following = cataloguer.get(reverse("review-rereview-next", args=[sample.pk]))
    own = text(login(boss).get(reverse("review-rereview", args=[sample.pk])))

    assert sample.items.count() == 2
    assert sample.get_absolute_url() not in listing
    assert page.status_code == 404 and "C-0500" not in text(page)
    assert following.status_code == 404
    assert "C-0500" in own and "C-0000" in own


def test_the_next_item_skips_pairs_the_reviewer_cannot_see(partner, personas):
    """Attack: a cataloguer asks for the next item of a sample that the sample's filter left open to
    them, while an item in a hidden collection sits first in it (a sample drawn before the collection
    was restricted). The next item is the visible one, never a redirect to the hidden pair."""
    member = partner["member"]
    open_pair, hidden = partner["open"], partner["hidden"]
    unseen = services.decide_duplicate(hidden, hidden.image_a.record, actor=member)
    seen = services.decide_duplicate(open_pair, open_pair.image_a.record, actor=member)
    sample = rereview.ReReview.objects.create(created_by=partner["boss"])
    rereview.ReReviewItem.objects.create(sample=sample, decision=unseen)
    visible_item = rereview.ReReviewItem.objects.create(sample=sample, decision=seen)

    assert rereview.next_item(sample, personas["cataloguer"]) == visible_item
    assert rereview.next_item(sample, partner["boss"]).decision == unseen


# --- finding 6 / deliverable 5: CSV exports neutralise formulas -------------------------------------

FORMULAS = {
    "=": "=cmd|' /C calc'!A0",
    "+": "+SUM(1+1)",
    "-": "-2+3",
    "@": "@SUM(1+1)",
    "\t": "\t=1+1",
    "\r": "\r=1+1",
}


def _rows(content):
    return list(csv.DictReader(io.StringIO(content, newline="")))


@pytest.mark.parametrize("sign", list(FORMULAS), ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_every_csv_export_neutralises_a_formula_cell(collection, personas, tmp_path, sign):
    """Attack: a manifest gives catalogue numbers and file names that a spreadsheet runs as formulas
    (=cmd|' /C calc'!A0, +SUM(1+1), -2+3, @SUM(1+1), a leading tab or carriage return). Every CSV a
    person may open (the mapping and exact-duplicate exports, on their pages and in the API, and
    export_candidates) writes them with a single quote in front; JSON keeps them as they are."""
    payload = FORMULAS[sign]
    (pair,) = make_pairs(collection, 1)
    CandidatePair.objects.filter(pk=pair.pk).update(relation="identical", same_bytes=True)
    CatalogueRecord.objects.filter(pk=pair.image_b.record_id).update(catalogue_number=payload)
    ImageFile.objects.filter(pk=pair.image_b.pk).update(source_path=payload + ".jpg")
    pair.refresh_from_db()
    services.decide_duplicate(pair, pair.image_a.record, actor=personas["cataloguer"])
    client = login(personas["supervisor"])

    mapping = _rows(text(client.get(reverse("review-supervisor-export-mapping"), {"format": "csv"})))
    exact = _rows(text(client.get(reverse("review-supervisor-export-exact"), {"format": "csv"})))
    api = _rows(text(client.get("/api/exports/exact-duplicates/", HTTP_ACCEPT="text/csv")))
    as_json = client.get(reverse("review-supervisor-export-exact"), {"format": "json"}).json()
    call_command("export_candidates", format="csv", output=str(tmp_path / "pairs.csv"))
    with open(tmp_path / "pairs.csv", encoding="utf-8", newline="") as exported:
        candidates = _rows(exported.read())

    quoted = "'" + payload
    assert [row["catalogue_number"] for row in mapping] == [quoted]
    assert [(row["duplicate_number"], row["duplicate_file"]) for row in exact] == [(quoted, quoted + ".jpg")]
    assert [row["duplicate_number"] for row in api] == [quoted]
    assert [row["right"] for row in candidates] == [quoted + ".jpg"]
    assert as_json[0]["duplicate_number"] == payload
    assert exact[0]["master_number"] == "C-0000"  # harmless text is left alone


def test_the_neutraliser_touches_text_only():
    """Attack on the fix: a number the application computed (a negative distance) is data, and text
    that merely contains a sign later on is not a formula; both pass through unchanged."""
    out = io.StringIO()
    writer = spreadsheet.Writer(out)
    writer.writerow(["HP-001", "a=b", -2, 0.5, "\0x", "'=kept"])
    assert out.getvalue() == "HP-001,a=b,-2,0.5,'\0x,'=kept\r\n"


# --- finding 10: an open record does not leak its hidden master or relations ------------------------


def cross_pair(one, other, score=0.9, relation="resized"):
    """A candidate pair of two images from different collections (stored in id order, as pairs are)."""
    first, second = sorted((one, other), key=lambda image: image.pk)
    return CandidatePair.objects.create(
        image_a=first,
        image_b=second,
        phash_distance=2,
        dhash_distance=2,
        score=score,
        tier="review",
        relation=relation,
        priority=0.9,
        verified=True,
    )


def _superseded_by_hidden(partner):
    """An open record (C-0600) that a partner member superseded by a partner record (C-0700), on a
    pair across the two collections."""
    (open_pair,) = make_pairs(partner["open"].image_a.collection, 1, start=600)
    (hidden_pair,) = make_pairs(partner["mirror"], 1, start=700)
    cross = cross_pair(hidden_pair.image_a, open_pair.image_a)
    services.decide_duplicate(cross, hidden_pair.image_a.record, actor=partner["member"])
    return CatalogueRecord.objects.get(pk=open_pair.image_a.record_id)


def test_an_open_record_does_not_name_its_hidden_master_or_relations(partner, personas):
    """Attack: a cataloguer outside the partner's group opens an open record that a partner member
    superseded by a partner record, related to another, and merged a partner record's title into,
    and reads the master's number, id, and the sources, on the page, in search (by the old number)
    and in the API. The pages say the master is in a collection they cannot see; the API gives null,
    not the hidden ids."""
    record = _superseded_by_hidden(partner)
    hidden_master = CatalogueRecord.objects.get(catalogue_number="C-0700")
    # The open record C-0000 took C-0501's title (a partner member's decision on a cross pair) and is
    # related to the partner's C-0500.
    keeper = partner["open"].image_a.record
    hidden_source, hidden_related = partner["hidden"].image_b.record, partner["hidden"].image_a.record
    CatalogueRecord.objects.filter(pk=hidden_source.pk).update(title="Partner title 1921")
    hidden_source.refresh_from_db()
    merge_pair = cross_pair(partner["open"].image_a, partner["hidden"].image_b)
    services.decide_duplicate(merge_pair, keeper, actor=partner["member"], merge=("title",))
    relate_pair = cross_pair(partner["open"].image_a, partner["hidden"].image_a, score=0.7, relation="crop")
    services.decide(relate_pair, Decision.Kind.RELATED, actor=partner["member"])
    client = login(personas["cataloguer"])

    page = text(client.get(record.get_absolute_url()))
    found = text(client.get(reverse("catalogue-search"), {"q": "C-0600"}))
    keeper_page = text(client.get(keeper.get_absolute_url()))
    api = client.get(f"/api/records/{record.pk}/").json()
    keeper_api = client.get(f"/api/records/{keeper.pk}/").json()
    listing = client.get("/api/records/", {"collection": record.collection_id}).json()["results"]
    listed = {row["id"]: row for row in listing}

    assert "C-0700" not in page and hidden_master.get_absolute_url() not in page
    assert "superseded by a record in a collection you cannot see" in page
    assert "C-0700" not in found
    assert "C-0600 is superseded by a record in a collection you cannot see" in found
    assert (api["status"], api["master"], api["resolves_to"]) == ("superseded", None, None)
    assert (listed[record.pk]["master"], listed[record.pk]["resolves_to"]) == (None, None)
    assert "C-0501" not in keeper_page and "C-0500" not in keeper_page and "Partner title 1921" in keeper_page
    merged = keeper_api["metadata"]["merged_fields"]["title"]
    assert (merged["from_record"], merged["from_number"]) == (None, "")
    assert hidden_source.pk not in keeper_api["superseded_records"]
    assert keeper_api["related_records"] == []
    member = login(partner["member"]).get(f"/api/records/{record.pk}/").json()
    assert (member["master"], member["resolves_to"]) == (hidden_master.pk, hidden_master.pk)
    assert login(partner["member"]).get(f"/api/records/{keeper.pk}/").json()["related_records"] == [
        hidden_related.pk
    ]


# --- finding 8 / deliverable 7: the production build ------------------------------------------------


def _production(tmp_path, *command):
    """manage.py as the production image runs it: DEBUG off, not under pytest (so the manifest
    storage and the deploy settings apply), its own data folder."""
    # DJANGO_ALLOW_ASYNC_UNSAFE: the browser tests set it for their own process; production never has it.
    unwanted = ("PYTEST_VERSION", "DEBUG", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in unwanted}
    env.update(
        MASTERCOPY_DATA_DIR=str(tmp_path),
        SECRET_KEY="production-test-" + "k" * 50,
        MASTERCOPY_AUDIT_KEY="production-test-audit-" + "a" * 40,
        ALLOWED_HOSTS="mastercopy.example.org",
    )
    command = [sys.executable, "manage.py", *command]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_the_production_static_build_and_deploy_check_pass(tmp_path):
    """Attack (by accident): a vendored file that names a missing source map, or a setting that only
    production reads, makes `collectstatic` with DEBUG off (the Dockerfile's build step) or
    `check --deploy` fail, so the image cannot be built. Both pass, and the review screen's viewer
    is among the hashed files the manifest serves."""
    collected = _production(tmp_path, "collectstatic", "--noinput")
    deploy = _production(tmp_path, "check", "--deploy", "--fail-level", "WARNING")

    assert collected.returncode == 0, collected.stderr[-2000:]
    assert deploy.returncode == 0, deploy.stderr[-2000:]
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert '"vendor/openseadragon/openseadragon.min.js"' in manifest


def test_ci_replays_the_dockerfile_before_the_tests():
    """Attack (by accident): CI stops exercising the production build. .ci/run replays the
    Dockerfile's steps (.ci/dockerfile-steps.py) before `make test`, and the replay reads the
    Dockerfile's own build steps and keeps local state out of the image (.dockerignore)."""
    run = (REPO / ".ci" / "run").read_text()
    assert "python3 .ci/dockerfile-steps.py" in run
    assert run.index("python3 .ci/dockerfile-steps.py") < run.index("\nmake test")
    sys.path.insert(0, str(REPO / ".ci"))
    try:
        steps = __import__("dockerfile-steps")
    finally:
        sys.path.remove(str(REPO / ".ci"))
    replayed = [
        argument
        for keyword, argument, skipped in steps.instructions((REPO / "Dockerfile").read_text())
        if keyword == "RUN" and not skipped
    ]
    assert any("pip install" in run for run in replayed)
    assert any("collectstatic" in run for run in replayed)
    patterns = steps.ignore_patterns()
    for path in (".venv/bin/python", "var/db.sqlite3", ".env", "review/__pycache__/x.pyc", ".git/HEAD"):
        assert steps.ignored(path, patterns), path
    for path in ("manage.py", "static/vendor/openseadragon/openseadragon.min.js", "review/views.py"):
        assert not steps.ignored(path, patterns), path


def test_admin_lists_and_opens_no_licence_of_a_restricted_collection(partner, personas):
    """Attack: an Administrator outside the partner's group looks for the partner's licences (client
    names, catalogue numbers) in Django admin's licence list, by search, or by a change page's id."""
    from datetime import date

    from django.contrib.auth.models import Permission

    from licensing.models import Licence

    def licence(number, pair):
        record = pair.image_a.record
        return Licence.objects.create(
            number=number, client=f"Client of {number}", collection=record.collection,
            catalogue_number=record.catalogue_number, record=record, licensed_on=date(2026, 1, 5),
        )  # fmt: skip

    hidden = licence("LIC-HIDDEN", partner["hidden"])
    licence("LIC-OPEN", partner["open"])
    administrator = personas["administrator"]
    # A superuser let them read licences in admin.
    administrator.user_permissions.add(Permission.objects.get(codename="view_licence"))
    client = staff(administrator)

    listing = text(client.get(reverse("admin:licensing_licence_changelist")))
    searched = text(client.get(reverse("admin:licensing_licence_changelist"), {"q": "LIC-HIDDEN"}))
    page = client.get(reverse("admin:licensing_licence_change", args=[hidden.pk]))

    assert "LIC-OPEN" in listing and "LIC-HIDDEN" not in listing and HIDDEN not in listing
    assert "Client of LIC-HIDDEN" not in searched  # (the search box itself echoes the query)
    assert page.status_code == 302 and page.url == reverse("admin:index")
