"""Licences through the command, the administrator's page and the API; the answer as of a licence's
date through the licence page and the API (before and after a supersession, after a revert); restricted
collections; the two reports (exactly the affected licences, formula-safe CSV)."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalogue.models import CatalogueRecord, Collection, ImageFile
from dedup.models import CandidatePair
from licensing.models import Licence
from review import services
from tests.test_audit_chain import make_pairs

pytestmark = pytest.mark.django_db

HEADER = "licence_number,client,catalogue_number,licence_date,usage,territory,sha256\n"


def days_ago(n):
    return (timezone.localdate() - timedelta(days=n)).isoformat()


@pytest.fixture
def archive(collection):
    """Two pairs (C-0000/C-0001, C-0002/C-0003) imported a month ago, each record with its own rights."""
    pairs = make_pairs(collection, 2)
    month_ago = timezone.now() - timedelta(days=30)
    CatalogueRecord.objects.update(created_at=month_ago)
    ImageFile.objects.update(created_at=month_ago)
    for n, record in enumerate(CatalogueRecord.objects.order_by("catalogue_number")):
        CatalogueRecord.objects.filter(pk=record.pk).update(
            rights=f"rights {n}", credit_line=f"credit {n}", title=f"Harbour {n}"
        )
    # Fresh from the database: the pairs' cached records predate the rights just set.
    return list(CandidatePair.objects.filter(pk__in=[p.pk for p in pairs]).order_by("pk"))


def write_csv(tmp_path, text, encoding="utf-8", extra=b""):
    path = tmp_path / "licences.csv"
    path.write_bytes(text.encode(encoding) + extra)
    return path


def run_import(path, collection, capsys):
    code = 0
    try:
        call_command("import_licences", str(path), "--collection", collection.name)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def api(personas, name):
    # Whatever the authentication scheme (another part of the API's concern), the roles decide here.
    client = APIClient()
    client.force_authenticate(user=personas[name])
    return client


def licences_for(collection, tmp_path, capsys):
    """L-1 and L-2 on C-0001 (before and after today's supersession), L-3 on C-0000, L-4 on C-0002."""
    text = HEADER + (
        f"L-1,Harbour Press,C-0001,{days_ago(10)},book cover,Europe,\n"
        f"L-2,Daily Tide,C-0001,{timezone.localdate().isoformat()},web,World,\n"
        f"L-3,Harbour Press,C-0000,{days_ago(10)},poster,UK,{0:064x}\n"
        f"L-4,Sea Museum,C-0002,{days_ago(5)},exhibition,UK,\n"
    )
    code, out, err = run_import(write_csv(tmp_path, text), collection, capsys)
    assert (code, out.strip(), err) == (0, "4 licences imported, 0 rows refused", "")


def test_the_command_imports_good_rows_and_names_every_bad_one(archive, collection, tmp_path, capsys):
    Licence.objects.create(
        number="L-OLD",
        client="Original client",
        collection=collection,
        catalogue_number="C-0000",
        record=CatalogueRecord.objects.get(catalogue_number="C-0000"),
        licensed_on=timezone.localdate(),
    )
    text = HEADER + (
        f"L-1,Harbour Press,C-0001,{days_ago(3)},cover,EU,\n"
        f"L-2,Harbour Press,c-0002,{days_ago(3)},,,\n"  # a number in another case still names C-0002
        f"L-3,Someone,NOPE-9,{days_ago(3)},,,\n"
        f"L-4,Someone,C-0001,31/12/2025,,,\n"
        f"L-1,Someone else,C-0003,{days_ago(3)},,,\n"
        f"L-OLD,Takeover client,C-0003,{days_ago(3)},,,\n"
        f"L-5,Someone,C-0003,{days_ago(3)},,,abc\n"
    )
    bad_bytes = f"L-6,Caf\xe9 Noir,C-0003,{days_ago(3)},,,\n".encode("latin-1")
    path = write_csv(tmp_path, text, extra=bad_bytes + f"L-7,Last,C-0003,{days_ago(1)},,,\n".encode())

    code, out, err = run_import(path, collection, capsys)

    assert code == 1
    assert out.strip() == "3 licences imported, 6 rows refused"
    assert err.splitlines() == [
        "row 4 (L-3): catalogue number NOPE-9 is not in collection Harbour Photographs",
        "row 5 (L-4): licence date “31/12/2025” is not a date as YYYY-MM-DD",
        "row 6 (L-1): licence number L-1 appears twice in this file; only the first row was used",
        "row 7 (L-OLD): licence number L-OLD is already stored; it was left as it is",
        "row 8 (L-5): sha256 “abc” is not 64 hexadecimal digits",
        "row 9 (L-6): the row is not valid UTF-8 (save the file as UTF-8 and import it again)",
    ]
    stored = dict(Licence.objects.values_list("number", "record__catalogue_number"))
    assert stored == {"L-OLD": "C-0000", "L-1": "C-0001", "L-2": "C-0002", "L-7": "C-0003"}
    old = Licence.objects.get(number="L-OLD")
    assert (old.client, old.licensed_on) == ("Original client", timezone.localdate())
    assert Licence.objects.get(number="L-1").client == "Harbour Press"


def test_a_file_without_the_columns_imports_nothing(archive, collection, tmp_path, capsys):
    path = write_csv(tmp_path, "number,who\nL-1,Someone\n")
    with pytest.raises(Exception, match="lacks the column"):
        call_command("import_licences", str(path), "--collection", collection.name)
    assert Licence.objects.count() == 0


def test_the_administrators_page_imports_and_lists_the_problems(archive, collection, client_for):
    data = (HEADER + f"P-1,Press,C-0000,{days_ago(2)},,,\nP-2,Press,C-9999,{days_ago(2)},,,\n").encode()
    client = client_for("administrator")

    response = client.post(
        reverse("licensing-import"),
        {"collection": collection.pk, "file": SimpleUploadedFile("l.csv", data, "text/csv")},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "1 licence imported" in page and "1 row refused" in page
    assert "catalogue number C-9999 is not in collection Harbour Photographs" in page
    assert list(Licence.objects.values_list("number", "source")) == [("P-1", "l.csv")]


@pytest.mark.parametrize("name", ["cataloguer", "supervisor", "outsider"])
def test_only_administrators_import(archive, collection, client_for, personas, name):
    data = (HEADER + f"P-1,Press,C-0000,{days_ago(2)},,,\n").encode()
    page = client_for(name).post(
        reverse("licensing-import"), {"collection": collection.pk, "file": SimpleUploadedFile("l.csv", data)}
    )
    response = api(personas, name).post(
        reverse("api-licence-import"),
        {"collection": collection.pk, "file": SimpleUploadedFile("l.csv", data)},
    )
    assert (page.status_code, response.status_code) == (403, 403)
    assert Licence.objects.count() == 0


def test_the_api_imports_and_stores_one_licence(archive, collection, personas):
    client = api(personas, "administrator")
    data = (HEADER + f"A-1,Press,C-0000,{days_ago(2)},,,\nA-2,Press,C-0000,2025-02-30,,,\n").encode()

    imported = client.post(
        reverse("api-licence-import"),
        {"collection": collection.pk, "file": SimpleUploadedFile("l.csv", data)},
        format="multipart",
    )
    one = client.post(
        reverse("api-licences"),
        {
            "number": "A-3",
            "client": "Tide",
            "collection": collection.pk,
            "catalogue_number": "C-0002",
            "licensed_on": days_ago(1),
        },
        format="json",
    )
    again = client.post(
        reverse("api-licences"),
        {
            "number": "A-3",
            "client": "Other",
            "collection": collection.pk,
            "catalogue_number": "C-0003",
            "licensed_on": days_ago(1),
        },
        format="json",
    )

    assert imported.status_code == 200
    assert imported.json()["imported"] == 1
    assert imported.json()["problems"] == [
        {
            "row": 3,
            "licence_number": "A-2",
            "message": "licence date “2025-02-30” is not a date as YYYY-MM-DD",
        }
    ]
    assert (one.status_code, one.json()["record"]) == (
        201,
        CatalogueRecord.objects.get(catalogue_number="C-0002").pk,
    )
    assert (again.status_code, again.json()) == (
        400,
        {"detail": "licence number A-3 is already stored; it was left as it is"},
    )
    assert Licence.objects.get(number="A-3").client == "Tide"


def answer(personas, number, name="cataloguer"):
    licence = Licence.objects.get(number=number)
    response = api(personas, name).get(reverse("api-licence", args=[licence.pk]))
    assert response.status_code == 200
    return response.json()["answer"]


def sha(number):
    return ImageFile.objects.get(record__catalogue_number=number).sha256


def test_licences_before_and_after_a_supersession_answer_with_different_files(
    archive, collection, personas, client_for, tmp_path, capsys
):
    licences_for(collection, tmp_path, capsys)
    first = archive[0]
    master = CatalogueRecord.objects.get(catalogue_number="C-0000")
    decision = services.decide_duplicate(first, master, actor=personas["cataloguer"])

    before, after = answer(personas, "L-1"), answer(personas, "L-2")

    assert before["then"]["record"]["catalogue_number"] == "C-0001"
    assert before["then"]["file"]["sha256"] == sha("C-0001")
    assert (
        before["then"]["file"]["size"],
        before["then"]["file"]["width"],
        before["then"]["file"]["format"],
    ) == (
        1000,
        100,
        "JPEG",
    )
    assert (before["then"]["rights"], before["then"]["credit_line"]) == ("rights 1", "credit 1")
    assert before["now"]["record"]["catalogue_number"] == "C-0000"
    assert before["now"]["file"]["sha256"] == sha("C-0000")
    assert before["now"]["rights"] == "rights 0"
    assert (before["superseded_since"], before["rights_changed_since"]) == (True, True)
    assert [e["decision"] for e in before["events_since"] if e["event"] == "superseded"] == [decision.pk]
    assert after["then"]["file"]["sha256"] == sha("C-0000")
    assert (after["superseded_since"], after["then"]["rights"]) == (False, "rights 0")
    untouched = answer(personas, "L-4")
    assert (untouched["then"]["file"]["sha256"], untouched["superseded_since"]) == (sha("C-0002"), False)

    page = client_for("cataloguer").get(Licence.objects.get(number="L-1").get_absolute_url()).content.decode()
    assert sha("C-0001") in page and sha("C-0000") in page
    assert "The licensed file is no longer what this number delivers." in page


def test_a_revert_restores_the_earlier_answer(archive, collection, personas, client_for, tmp_path, capsys):
    licences_for(collection, tmp_path, capsys)
    master = CatalogueRecord.objects.get(catalogue_number="C-0000")
    decision = services.decide_duplicate(archive[0], master, actor=personas["cataloguer"])
    assert answer(personas, "L-2")["then"]["file"]["sha256"] == sha("C-0000")

    response = client_for("supervisor").post(
        reverse("review-supervisor-revert", args=[decision.pk]), {"reason": "different prints"}
    )

    assert response.status_code == 302
    restored = answer(personas, "L-2")
    assert restored["then"]["record"]["catalogue_number"] == "C-0001"
    assert restored["then"]["file"]["sha256"] == sha("C-0001")
    assert restored["superseded_since"] is False
    assert answer(personas, "L-1")["superseded_since"] is False
    assert [e["event"] for e in answer(personas, "L-1")["events_since"]] == ["superseded", "restored"]


def test_the_as_of_query_answers_any_number_and_date(archive, collection, personas, client_for):
    master = CatalogueRecord.objects.get(catalogue_number="C-0002")
    services.decide_duplicate(archive[1], master, actor=personas["cataloguer"])
    client = api(personas, "cataloguer")

    earlier = client.get(reverse("api-as-of"), {"catalogue_number": "C-0003", "date": days_ago(3)}).json()
    today = client.get(
        reverse("api-as-of"), {"catalogue_number": "c-0003", "date": timezone.localdate().isoformat()}
    ).json()
    bad = client.get(reverse("api-as-of"), {"catalogue_number": "C-0003", "date": "yesterday"})

    assert [a["then"]["file"]["sha256"] for a in earlier["answers"]] == [sha("C-0003")]
    assert [a["then"]["file"]["sha256"] for a in today["answers"]] == [sha("C-0002")]
    assert bad.status_code == 400
    page = client_for("cataloguer").get(reverse("licensing-as-of"), {"number": "C-0003", "date": days_ago(3)})
    assert sha("C-0003") in page.content.decode()


def test_the_delivered_sha256_picks_the_file_and_says_when_it_differs(
    archive, collection, personas, tmp_path, capsys
):
    licences_for(collection, tmp_path, capsys)
    Licence.objects.filter(number="L-4").update(sha256="f" * 64)

    named, other = answer(personas, "L-3"), answer(personas, "L-4")

    assert (named["then"]["file"]["sha256"], named["delivered_sha256_matches"]) == (sha("C-0000"), True)
    assert (other["then"]["file"]["sha256"], other["delivered_sha256_matches"]) == (sha("C-0002"), False)


@pytest.fixture
def partner(personas):
    """A restricted collection with one licence; only the group's members may see it."""
    group = Group.objects.create(name="Partner staff")
    partner = Collection.objects.create(name="Partner mirror")
    partner.restricted_to.add(group)
    member = personas["administrator"]
    member.groups.add(group)
    (pair,) = make_pairs(partner, 1, start=50)
    Licence.objects.create(
        number="P-SECRET",
        client="Partner client",
        collection=partner,
        catalogue_number="C-0050",
        record=pair.image_a.record,
        licensed_on=timezone.localdate(),
    )
    return partner


def test_a_restricted_collections_licences_are_visible_only_to_its_members(
    archive, collection, partner, personas, client_for, tmp_path, capsys
):
    licences_for(collection, tmp_path, capsys)
    secret = Licence.objects.get(number="P-SECRET")
    record = secret.record

    for name in ("cataloguer", "supervisor"):
        client = client_for(name)
        assert client.get(secret.get_absolute_url()).status_code == 404
        assert "P-SECRET" not in client.get(reverse("licensing-licences")).content.decode()
        assert client.get(reverse("licensing-report"), {"collection": partner.pk}).status_code == 404
        rest = api(personas, name)
        assert "P-SECRET" not in [row["number"] for row in rest.get(reverse("api-licences")).json()]
        assert rest.get(reverse("api-licence", args=[secret.pk])).status_code == 404
        assert rest.get(reverse("api-record-history", args=[record.pk])).status_code == 404
        assert (
            rest.get(reverse("api-as-of"), {"catalogue_number": "C-0050", "date": days_ago(1)}).json()[
                "answers"
            ]
            == []
        )
        assert rest.get(reverse("api-licence-report"), {"collection": partner.pk}).status_code == 404

    member = client_for("administrator")
    assert "Partner client" in member.get(secret.get_absolute_url()).content.decode()
    numbers = [row["number"] for row in api(personas, "administrator").get(reverse("api-licences")).json()]
    assert sorted(numbers) == ["L-1", "L-2", "L-3", "L-4", "P-SECRET"]


@pytest.mark.parametrize(
    "url",
    [
        lambda: reverse("licensing-licences"),
        lambda: reverse("licensing-as-of"),
        lambda: Licence.objects.get(number="L-1").get_absolute_url(),
    ],
)
def test_outsiders_see_no_licensing_page(archive, collection, client_for, tmp_path, capsys, url):
    licences_for(collection, tmp_path, capsys)
    assert client_for("outsider").get(url()).status_code == 403


def test_outsiders_get_nothing_from_the_api(archive, collection, personas, tmp_path, capsys):
    licences_for(collection, tmp_path, capsys)
    client = api(personas, "outsider")
    record = CatalogueRecord.objects.get(catalogue_number="C-0000")
    for url, params in (
        (reverse("api-licences"), {}),
        (reverse("api-licence", args=[Licence.objects.get(number="L-1").pk]), {}),
        (reverse("api-as-of"), {"catalogue_number": "C-0000", "date": days_ago(1)}),
        (reverse("api-record-history", args=[record.pk]), {}),
        (reverse("api-licence-report"), {"collection": collection.pk}),
    ):
        assert client.get(url, params).status_code == 403
    assert APIClient().get(reverse("api-licences")).status_code == 401


def test_the_reports_list_exactly_the_affected_licences(
    archive, collection, personas, client_for, tmp_path, capsys
):
    licences_for(collection, tmp_path, capsys)
    # L-1 (C-0001, ten days ago) now resolves to C-0000, whose rights differ; L-4 (C-0002) to C-0003
    # whose rights are made the same as C-0002's first; L-2 (today) and L-3 (the master) are unaffected.
    services.decide_duplicate(
        archive[0], CatalogueRecord.objects.get(catalogue_number="C-0000"), actor=personas["cataloguer"]
    )
    for number in ("C-0002", "C-0003"):
        CatalogueRecord.objects.filter(catalogue_number=number).update(rights="same", credit_line="same")
    services.decide_duplicate(
        archive[1], CatalogueRecord.objects.get(catalogue_number="C-0003"), actor=personas["cataloguer"]
    )
    Licence.objects.filter(number="L-1").update(client='=HYPERLINK("http://x")')
    client = api(personas, "cataloguer")

    superseded = client.get(
        reverse("api-licence-report"), {"collection": collection.pk, "kind": "superseded"}
    )
    rights = client.get(reverse("api-licence-report"), {"collection": collection.pk, "kind": "rights"})
    exported = client_for("cataloguer").get(
        reverse("licensing-report"), {"collection": collection.pk, "kind": "superseded", "format": "csv"}
    )

    assert [row["licence_number"] for row in superseded.json()["licences"]] == ["L-1", "L-4"]
    assert [row["licence_number"] for row in rights.json()["licences"]] == ["L-1"]
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [row["licence_number"] for row in rows] == ["L-1", "L-4"]
    assert rows[0]["client"] == '\'=HYPERLINK("http://x")'
    assert (rows[0]["licensed_sha256"], rows[0]["sha256_now"]) == (sha("C-0001"), sha("C-0000"))
    assert (rows[1]["master_now"], rows[1]["rights_then"], rows[1]["rights_now"]) == (
        "C-0003",
        "same",
        "same",
    )


def test_an_updated_version_retires_the_old_record_and_its_licences_keep_the_delivered_file(
    archive, collection, personas, client_for, tmp_path, capsys
):
    licences_for(collection, tmp_path, capsys)
    pair = archive[0]  # C-0000 (left) and C-0001 (right): C-0001 is the rights holder's newer file
    response = client_for("cataloguer").post(
        reverse("licensing-updated-version", args=[pair.pk]), {"newer": "right"}
    )
    again = api(personas, "cataloguer").post(
        reverse("api-pair-update", args=[pair.pk]), {"newer": "right"}, format="json"
    )

    assert response.status_code == 302
    assert again.status_code == 409
    old = record_by("C-0000")
    assert (old.status, old.master.catalogue_number) == ("superseded", "C-0001")
    delivered = answer(personas, "L-3")
    assert (delivered["then"]["file"]["sha256"], delivered["delivered_sha256_matches"]) == (
        sha("C-0000"),
        True,
    )
    assert (delivered["now"]["file"]["sha256"], delivered["superseded_since"]) == (sha("C-0001"), True)
    history = api(personas, "cataloguer").get(reverse("api-record-history", args=[old.pk])).json()["events"]
    assert [e["event"] for e in history if e["updated_version"]] == ["superseded"]
    supervisor = client_for("supervisor")
    mapping = supervisor.get(reverse("review-supervisor-export-mapping"), {"format": "json"})
    rows = [(r["catalogue_number"], r["relation"], r["target_number"]) for r in mapping.json()]
    assert rows == [("C-0000", "updated-version", "C-0001")]
    premis = b"".join(supervisor.get(reverse("review-supervisor-export-premis")).streaming_content).decode()
    assert premis.count("relation=updated-version") == 1


def test_only_reviewers_who_may_see_the_pair_record_an_updated_version(
    archive, collection, partner, personas, client_for
):
    secret_image = Collection.objects.get(name="Partner mirror").images.first()
    hidden = CandidatePair.objects.get(image_a=secret_image)
    assert (
        client_for("outsider")
        .post(reverse("licensing-updated-version", args=[archive[0].pk]), {"newer": "right"})
        .status_code
        == 403
    )
    assert (
        api(personas, "outsider")
        .post(reverse("api-pair-update", args=[archive[0].pk]), {"newer": "right"}, format="json")
        .status_code
        == 403
    )
    assert (
        client_for("cataloguer")
        .post(reverse("licensing-updated-version", args=[hidden.pk]), {"newer": "right"})
        .status_code
        == 404
    )
    assert CatalogueRecord.objects.filter(status="superseded").count() == 0


def record_by(number):
    return CatalogueRecord.objects.select_related("master").get(catalogue_number=number)
