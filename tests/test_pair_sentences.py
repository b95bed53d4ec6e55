"""Pair sentences and relation names on the pair screen (issue 13, item 5): built when shown from the
relation and the parameters verification measured, in the reader's language (English, Traditional and
Simplified Chinese), told from the suggested master's side (the words never say "Right is Left
cropped" while Right is the suggested master), and a row stored before these parameters existed still
shows its stored sentence."""

import csv
import io
import re

import pytest
from django.core.management import call_command
from django.utils import translation

from catalogue.models import Collection, Profile
from catalogue.variants import make_variant
from dedup import verification
from dedup.models import CandidatePair
from review.models import ReviewItem
from tests.test_review_corpus import add_image, encode, make_pair, picture

pytestmark = pytest.mark.django_db


def screen(client, pair):
    item = ReviewItem.objects.get(pair=pair)
    response = client.get(item.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    sentence = re.search(r'<p class="explanation">(.*?)</p>', page, re.S).group(1)
    relation = re.search(r'<h1 class="relation">(.*?) <span', page, re.S).group(1)
    master = "left" if response.context["suggestion"].side == "left" else "right"
    return relation.strip(), re.sub(r"\s+", " ", sentence).strip(), master


def verified(collection, original, variant_bytes, number):
    """A pair of the original and a variant, verified by dedup.verification as the pipeline does."""
    copy = add_image(collection, number, io.BytesIO(variant_bytes))
    pair = make_pair(original, copy, score=0.9, queued=False)
    CandidatePair.objects.filter(pk=pair.pk).update(verified=False)
    pair.refresh_from_db()
    verification.verify_pair(pair)
    pair.refresh_from_db()
    ReviewItem.objects.get_or_create(
        pair=pair,
        defaults={"collection_id": collection.pk, "relation": pair.relation, "score": 0.9, "priority": 0.9},
    )
    return pair


def original_of(collection, path, number):
    with open(path, "rb") as handle:
        return add_image(collection, number, io.BytesIO(handle.read()))


@pytest.fixture
def bordered(collection, photos):
    """A real photograph and its bordered copy, verified."""
    original = original_of(collection, photos[0], "HP-ORIG")
    variant = make_variant(photos[0], "bordered", colour="white")
    return verified(collection, original, variant.data, "HP-BORDER")


@pytest.fixture
def cropped(collection, photos):
    original = original_of(collection, photos[1], "HP-WHOLE")
    variant = make_variant(photos[1], "cropped")
    return verified(collection, original, variant.data, "HP-CROP")


def test_the_sentence_is_built_from_the_measures_in_english(client_for, bordered):
    relation, sentence, master = screen(client_for("cataloguer"), bordered)

    assert "bordered" in relation
    assert bordered.source_side  # verification found which file was made from which
    assert master == ("left" if bordered.source_side == "a" else "right")  # the original is suggested
    other = "Right" if master == "left" else "Left"
    base = "Left" if master == "left" else "Right"
    assert sentence.startswith(f"{other} is the same picture as {base}, with a white border added (")


@pytest.mark.parametrize(
    ("language", "relation_words", "left", "right", "english"),
    [
        ("zh-hant", "裁切", "左圖", "右圖", "crop"),
        ("zh-hans", "裁切", "左图", "右图", "crop"),
    ],
)
def test_relation_names_and_sentences_are_in_the_readers_language(
    client, personas, cropped, language, relation_words, left, right, english
):
    Profile.objects.update_or_create(user=personas["cataloguer"], defaults={"language": language})
    client.force_login(personas["cataloguer"])

    relation, sentence, master = screen(client, cropped)

    assert relation_words in relation and "cropped" not in relation
    base, other = (left, right) if master == "left" else (right, left)
    # Told from the suggested master, whichever it is: the other side is the sentence's subject.
    assert sentence.startswith(f"{other}是{base}的裁切") or sentence.startswith(
        f"{other}顯示的範圍比{base}大" if language == "zh-hant" else f"{other}显示的范围比{base}大"
    ), sentence
    assert english not in sentence and "Right" not in sentence and "Left" not in sentence


def test_the_words_follow_the_suggested_master(client_for, collection):
    """Told from whichever side is suggested: the same measured crop reads "Right is a crop of Left"
    when Left is suggested, and "Left shows more than Right: Right is a crop of Left" when the keep-best
    rule suggests Right (a reference collection's copy), never "Right is ... of Left" from Right."""
    base = picture(9)
    whole = add_image(collection, "W", encode(base))
    reference = Collection.objects.create(name="Reference", reference=True)
    crop = add_image(reference, "R", encode(base.crop((64, 48, 576, 432))))
    params = {"crop_of": "left", "crop_box": [0.1, 0.1, 0.9, 0.9], "crop_area": 0.64, "scale": 1.0}
    pair = make_pair(
        whole, crop, score=0.9, relation="cropped", params=params, source=whole, derivation="cropped"
    )
    assert pair.image_a == whole
    client = client_for("cataloguer")

    _relation, sentence, master = screen(client, pair)

    assert master == "right"  # the reference collection's record comes first
    assert sentence.startswith("Left shows more than Right: Right is a crop of Left keeping 64%")

    reference.reference = False
    reference.save()
    _relation, sentence, master = screen(client, pair)

    assert master == "left"  # now the source, Left
    assert sentence.startswith("Right is a crop of Left keeping 64% of its area")


def test_a_row_stored_before_the_parameters_keeps_its_sentence(client_for, collection):
    base = picture(10)
    a = add_image(collection, "OLD-A", encode(base))
    b = add_image(collection, "OLD-B", encode(base.crop((0, 0, 500, 400))))
    old = "Right is a crop of Left keeping 65% of its area (box 0%–78% × 0%–83%), at the same resolution."
    pair = make_pair(a, b, score=0.8, relation="cropped", params={"scale": 1.0}, explanation=old)

    relation, sentence, _master = screen(client_for("cataloguer"), pair)

    assert relation == "cropped"
    assert sentence == old


def test_export_candidates_explains_in_english(bordered):
    out = io.StringIO()
    with translation.override("zh-hant"):
        call_command("export_candidates", format="csv", stdout=out)
    row = next(csv.DictReader(io.StringIO(out.getvalue())))

    assert "the same picture as" in row["explanation"] and "white border added" in row["explanation"]


def test_the_tier_reason_is_shown_in_the_readers_language(client, personas, collection):
    base = picture(11)
    a = add_image(collection, "T-A", encode(base))
    b = add_image(collection, "T-B", encode(base, quality=60))
    probable = make_pair(a, b, score=0.8, relation="resized+recompressed")
    c = add_image(collection, "T-C", encode(base, "PNG"))
    held = make_pair(
        a, c, score=1.0, relation="pixel-identical+format-changed", params={"formats": ["JPEG", "PNG"]}
    )
    CandidatePair.objects.filter(pk=held.pk).update(
        tier_reason="pixel-identical images, but the records' credit lines differ; "
        "the records' rights/licence are the same text in another script"
    )
    Profile.objects.update_or_create(user=personas["cataloguer"], defaults={"language": "zh-hant"})
    client.force_login(personas["cataloguer"])

    pages = [
        client.get(ReviewItem.objects.get(pair=p).get_absolute_url()).content.decode()
        for p in (probable, held)
    ]

    assert "可能相符：尺寸改變＋重新壓縮" in pages[0] and "probable match" not in pages[0]
    assert "影像像素相同，但兩筆紀錄的鳴謝說明不同；兩筆紀錄的版權／授權是同一文本，僅繁簡不同" in pages[1]
    assert "credit lines" not in pages[1]
