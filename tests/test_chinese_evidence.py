"""Metadata as evidence: equal catalogue numbers across collections, equal file identifiers (EXIF
ImageUniqueID, XMP DocumentID) and near-equal title + creator + date in either script, shown with a
pair's explanation; and records described alike whose pictures are unrelated, listed for a person."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from catalogue.models import CatalogueRecord, Collection
from dedup.models import CandidatePair
from review.evidence import Description, agreement, same_descriptions
from review.models import ReviewItem
from tests.test_review_corpus import add_image, make_pair, picture

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmpMM:DocumentID="xmp.did:0A1B2C3D"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def jpeg(seed, size=(640, 480), unique_id=None, xmp=None):
    image = picture(seed).resize(size)
    exif = Image.Exif()
    if unique_id:
        exif.get_ifd(0x8769)[0xA420] = unique_id
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif, **({"xmp": xmp} if xmp else {}))
    out.seek(0)
    return out


def test_the_same_title_creator_and_date_in_another_script_agree():
    ours = Description("HK-1962-001", "香港大會堂落成典禮", "何藩", "1962年", 1)
    theirs = Description("GD-0001", "香港大会堂落成典礼", "何藩", "1962年", 2)
    later = Description("GD-0002", "香港大会堂落成典礼", "何藩", "1963年", 2)
    near = Description("GD-0003", "香港大会堂落成典礼。", "何藩", "", 2)

    assert [str(e) for e in agreement(ours, theirs)] == [
        "the same title in another script, the same creator and date"
    ]
    assert agreement(ours, later) == []  # another year: another photograph
    assert [str(e) for e in agreement(ours, near)] == ["the same title in another script, the same creator"]
    assert same_descriptions([ours, theirs, later, near]) == [(0, 1)]


def test_an_equal_number_counts_across_collections_only():
    one = Description("HK-1957-002", "九龍城寨", "", "", 1)

    assert [e.code for e in agreement(one, Description("hk-1957-002", "", "", "", 2))] == ["number"]
    assert agreement(one, Description("HK-1957-002", "", "", "", 1)) == []


@pytest.fixture
def collections(db):
    return (
        Collection.objects.create(name="香港歷史檔案館", institution="香港歷史檔案館"),
        Collection.objects.create(name="中山图书馆", institution="中山图书馆", partner="广东省立中山图书馆"),
    )


@pytest.mark.django_db
def test_the_pair_explanation_names_the_metadata_that_agrees(collections, client_for):
    ours, theirs = collections
    a = add_image(
        ours, "HK-1957-002", jpeg(1, unique_id="0123456789abcdef0123456789abcdef", xmp=XMP),
        title="九龍城寨航拍", creator="佚名", date_text="1957年",
    )
    b = add_image(
        theirs, "HK-1957-002", jpeg(1, (320, 240), unique_id="0123456789abcdef0123456789abcdef", xmp=XMP),
        title="九龙城寨航拍", creator="佚名", date_text="1957年",
    )
    item = ReviewItem.objects.get(pair=make_pair(a, b, score=0.9))

    html = client_for("cataloguer").get(reverse("review-item", args=[item.pk])).content.decode()

    explanation = html.split('<p class="explanation">')[1].split("</p>")[0]
    assert "Supporting evidence from the metadata:" in explanation
    assert "the same catalogue number HK-1957-002 in both collections" in explanation
    assert "the same EXIF ImageUniqueID (0123456789abcdef0123456789abcdef)" in explanation
    assert "the same XMP DocumentID (xmp.did:0A1B2C3D)" in explanation
    assert "the same title in another script, the same creator and date" in explanation


@pytest.mark.django_db
def test_a_pair_whose_metadata_differs_shows_no_metadata_evidence(collections, client_for):
    ours, theirs = collections
    a = add_image(ours, "HK-1", jpeg(2), title="中環街市", creator="何藩")
    b = add_image(theirs, "GD-1", jpeg(2, (320, 240)), title="沙面街景", creator="佚名")
    item = ReviewItem.objects.get(pair=make_pair(a, b, score=0.9))

    client = client_for("cataloguer")
    html = client.get(reverse("review-item", args=[item.pk])).content.decode()

    assert "Supporting evidence from the metadata" not in html
    client.post(reverse("catalogue-set-language"), {"language": "zh-hans"})
    assert "元数据" in client.get(reverse("review-item", args=[item.pk])).content.decode()


@pytest.mark.django_db
def test_records_described_alike_with_unrelated_pictures_are_listed_and_nothing_is_merged(
    collections, client_for
):
    ours, theirs = collections
    # Described alike, different pictures, no candidate pair: a catalogue error.
    add_image(ours, "HK-1962-001", jpeg(3), title="香港大會堂落成典禮", creator="何藩", date_text="1962年")
    add_image(theirs, "GD-0001", jpeg(4), title="香港大会堂落成典礼", creator="何藩", date_text="1962年")
    # The same number on both sides, and verification called the pictures different: listed too.
    c = add_image(ours, "HK-1957-002", jpeg(5), title="九龍城寨")
    d = add_image(theirs, "HK-1957-002", jpeg(6), title="沙面街景")
    rejected = make_pair(c, d, score=0.4, queued=False)
    CandidatePair.objects.filter(pk=rejected.pk).update(tier=CandidatePair.Tier.REJECTED)
    # Described alike and the same picture: a pair for review, not a catalogue error.
    ferry = {"creator": "佚名", "date_text": "1970年"}
    e = add_image(ours, "HK-1970-009", jpeg(7), title="天星小輪", **ferry)
    f = add_image(theirs, "GD-0009", jpeg(7, (320, 240)), title="天星小轮", **ferry)
    make_pair(e, f, score=0.9)
    before = list(CatalogueRecord.objects.values_list("pk", "status", "master"))

    client = client_for("cataloguer")
    html = client.get(reverse("review-same-description")).content.decode()

    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    listed = [tuple(n for n in ("HK-1962-001", "GD-0001", "HK-1957-002", "HK-1970-009", "GD-0009") if n in r)
              for r in rows]  # fmt: skip
    assert sorted(listed) == [("HK-1957-002",), ("HK-1962-001", "GD-0001")]
    assert "the same title in another script, the same creator and date" in html
    assert "the same catalogue number HK-1957-002 in both collections" in html
    assert "2 pairs of records." in html
    assert list(CatalogueRecord.objects.values_list("pk", "status", "master")) == before
    assert 'id="same-description"' in client.get(reverse("review-queue")).content.decode()


@pytest.mark.django_db
def test_the_same_description_list_needs_a_role(collections, client_for):
    response = client_for("outsider").get(reverse("review-same-description"))

    assert response.status_code in (302, 403)
