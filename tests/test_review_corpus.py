"""A small review corpus built through the ORM: synthetic pictures, their variants, fingerprints (with the
real preview and thumbnail derivatives) and review-tier candidate pairs, as verification leaves them.

The other review tests import `build_corpus`; the one test here checks the corpus itself."""

import io
import random

import pytest
from django.conf import settings
from PIL import Image, ImageDraw

from catalogue.importing import sha256_of, store_original
from catalogue.inspect import inspect_image
from catalogue.models import CatalogueRecord, ImageFile
from dedup.fingerprinting import fingerprint_image
from dedup.models import CandidateGroup, CandidatePair
from review import services

PASSWORD = "correct horse battery staple"


def picture(seed, size=(640, 480)):
    """A synthetic photograph: shapes in colours that differ per seed, so pHashes differ too."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(40, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(18):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(30, size[0] // 2), rng.randrange(30, size[1] // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        else:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
    return image


def encode(image, fmt="JPEG", **options):
    out = io.BytesIO()
    image.save(out, fmt, **options)
    out.seek(0)
    return out


def add_image(collection, number, data, **record_fields):
    sha, size = sha256_of(data)
    info = inspect_image(data, settings.MASTERCOPY_MAX_PIXELS)
    key = store_original(data, sha)
    record = CatalogueRecord.objects.create(collection=collection, catalogue_number=number, **record_fields)
    image = ImageFile.objects.create(
        record=record,
        collection=collection,
        storage_key=key,
        original_filename=f"{number}.{info.format.lower()}",
        source_path=f"{number}.{info.format.lower()}",
        size=size,
        sha256=sha,
        format=info.format,
        width=info.width,
        height=info.height,
        mode=info.mode,
        icc_profile=info.icc_profile,
    )
    fingerprinted = fingerprint_image(image)  # outside the assert: it must run under python -O too
    assert fingerprinted, f"could not fingerprint {number}"
    return image


def make_pair(
    a,
    b,
    *,
    score,
    relation="resized+recompressed",
    params=None,
    explanation=None,
    group=None,
    queued=True,
    source=None,
    derivation="",
):
    """A verified review-tier pair, queued as the tier rules queue one (queued=False: not yet). source:
    the image verification found the other made from (with derivation), if any."""
    a, b = sorted((a, b), key=lambda image: image.pk)
    side = "" if source is None else ("a" if source.pk == a.pk else "b")
    pair = CandidatePair.objects.create(
        image_a=a,
        image_b=b,
        phash_distance=4,
        dhash_distance=6,
        crop_distance=None,
        score=score,
        tier=CandidatePair.Tier.REVIEW,
        relation=relation,
        relation_params=params or {"scale": 0.5},
        explanation=explanation or "Right is the same picture as Left, resized to 50% and recompressed.",
        verified=True,
        tier_reason=f"probable match: {relation}",
        priority=score,
        group=group,
        source_side=side,
        derivation=derivation if side else "",
    )
    if queued:
        services.queue_pair(pair)
    return pair


def build_corpus(collection, pairs=3):
    """pairs originals, each with a half-size recompressed copy (a duplicate pair), scores falling;
    the copy's record has a title and a credit line the original lacks (for field merges)."""
    made = []
    for i in range(pairs):
        base = picture(i)
        original = add_image(
            collection, f"HP-{i:03d}", encode(base, "TIFF"), title="", creator="Harbour Board", date_text=""
        )
        copy = add_image(
            collection,
            f"HP-{i:03d}-web",
            encode(base.resize((320, 240)), quality=70),
            title=f"Harbour view {i}",
            date_text="1931",
            credit_line="Gift of the Harbour Board",
        )
        made.append(make_pair(original, copy, score=0.95 - i * 0.1, source=original, derivation="downscaled"))
    return made


def build_group(collection, members=3):
    """One master and several copies of it: a candidate group of more than two."""
    base = picture(99)
    master = add_image(collection, "GRP-master", encode(base, "TIFF"))
    copies = [
        add_image(collection, f"GRP-copy-{n}", encode(base.resize((320 + 40 * n, 240 + 30 * n)), quality=75))
        for n in range(members - 1)
    ]
    group = CandidateGroup.objects.create(master=master)
    group.members.set([master, *copies])
    pairs = [make_pair(master, copy, score=0.9, group=group) for copy in copies]
    return group, pairs


@pytest.mark.django_db
def test_the_corpus_has_previews_and_review_pairs(collection):
    pairs = build_corpus(collection, pairs=2)

    assert [p.tier for p in pairs] == ["review", "review"]
    for pair in pairs:
        assert pair.image_a.fingerprint.preview_key and pair.image_b.fingerprint.thumbnail_key
