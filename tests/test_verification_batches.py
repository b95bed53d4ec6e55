"""A verification batch and an original storage cannot open: one missing file holds nothing else back (the
pair is noted, retried on its own, and after the last attempt goes to a person), while storage down for
everyone notes nothing and the whole batch waits for it to come back."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from dedup import tasks, verification
from dedup.models import CandidatePair
from review.models import ReviewItem
from tests.test_review_corpus import add_image, encode, make_pair, picture
from tests.test_s3 import s3, s3_endpoint  # noqa: F401 - the moto S3 fixtures

pytestmark = pytest.mark.django_db


def unverified_pairs(collection, count, size=(240, 180)):
    """count pairs, each of its own original and a smaller recompressed copy, waiting for verification."""
    ids = []
    for n in range(count):
        base = picture(300 + n, size)
        original = add_image(collection, f"B-{n}", encode(base, quality=92))
        copy = add_image(collection, f"B-{n}-web", encode(base.resize((size[0] * 3 // 4, size[1] * 3 // 4))))
        pair = make_pair(original, copy, score=0.9, queued=False)
        ids.append(pair.pk)
    CandidatePair.objects.filter(pk__in=ids).update(verified=False, tier="", relation="", explanation="")
    return ids


@pytest.fixture
def batch(collection):
    return unverified_pairs(collection, 50)


def take_away(image):
    data = default_storage.open(image.storage_key, "rb").read()
    default_storage.delete(image.storage_key)
    return data


def put_back(image, data):
    assert default_storage.save(image.storage_key, ContentFile(data)) == image.storage_key


def test_a_missing_original_first_in_its_batch_holds_back_none_of_the_other_49(batch):
    first = CandidatePair.objects.get(pk=batch[0])
    take_away(first.image_a)

    tasks.verify_batch.delay(batch)  # no exception: the batch is done, one pair waits

    assert CandidatePair.objects.filter(pk__in=batch[1:], verified=True).count() == 49
    assert not CandidatePair.objects.filter(pk__in=batch[1:]).exclude(open_error="").exists()
    first.refresh_from_db()
    assert not first.verified and first.open_attempts == 1 and first.open_error_at is not None
    assert first.image_a.storage_key in first.open_error and "could not be opened" in first.open_error


def test_the_note_shows_on_the_collection_page_and_in_the_api(batch, collection, client_for):
    first = CandidatePair.objects.get(pk=batch[0])
    take_away(first.image_b)
    tasks.verify_batch.delay(batch)

    page = client_for("administrator").get(reverse("catalogue-collection", args=[collection.pk]))
    text = page.content.decode()
    assert 'id="open-problems"' in text and first.image_b.storage_key in text and "will be retried" in text
    other = CandidatePair.objects.get(pk=batch[1])
    assert other.image_a.source_path not in text.split('id="open-problems"')[1].split("</section>")[0]
    cataloguer_page = client_for("cataloguer").get(reverse("catalogue-collection", args=[collection.pk]))
    assert 'id="open-problems"' not in cataloguer_page.content.decode()

    api = client_for("cataloguer")
    noted = api.get(f"/api/pairs/{first.pk}/").json()
    assert noted["verified"] is False and noted["open_problem"]["attempts"] == 1
    assert first.image_b.storage_key in noted["open_problem"]["error"] and noted["open_problem"]["at"]
    fine = api.get(f"/api/pairs/{other.pk}/").json()
    assert fine["verified"] is True and fine["open_problem"] is None


def test_the_file_restored_the_next_resume_verifies_the_pair(batch, settings):
    first = CandidatePair.objects.get(pk=batch[0])
    data = take_away(first.image_a)
    tasks.verify_batch.delay(batch)
    put_back(first.image_a, data)

    assert tasks.resume_pending.delay().get()["pairs to verify"] == 0  # its first wait is not over
    settings.MASTERCOPY_MISSING_RETRY_SECONDS = 0
    assert tasks.resume_pending.delay().get()["pairs to verify"] == 1

    first.refresh_from_db()
    assert first.verified and first.relation and first.open_error == "" and first.open_attempts == 1
    assert not CandidatePair.objects.filter(verified=False).exists()


def test_after_the_last_attempt_the_pair_goes_to_a_person_as_original_missing(collection, settings):
    settings.MASTERCOPY_MISSING_RETRY_SECONDS = 0
    settings.MASTERCOPY_MISSING_ATTEMPTS = 3
    ids = unverified_pairs(collection, 3)
    missing = CandidatePair.objects.get(pk=ids[1])
    take_away(missing.image_b)

    tasks.verify_batch.delay(ids)
    for attempts in (2, 3):
        assert tasks.resume_pending.delay().get()["pairs to verify"] == 1  # alone: the others are done
        missing.refresh_from_db()
        assert missing.open_attempts == attempts
    assert tasks.resume_pending.delay().get()["pairs to verify"] == 0

    missing.refresh_from_db()
    assert missing.verified and missing.tier == CandidatePair.Tier.REVIEW
    assert missing.tier_reason.startswith("original missing after 3 attempts")
    assert missing.image_b.storage_key in missing.tier_reason and missing.open_error
    item = ReviewItem.objects.get(pair=missing)
    assert item.status == ReviewItem.Status.OPEN
    assert CandidatePair.objects.filter(pk__in=ids, verified=True).count() == 3


def test_one_pair_with_a_missing_original_verifies_by_itself_as_before(collection):
    """verify_pair on its own cannot tell a missing file from an outage: it raises, marking nothing."""
    (pk,) = unverified_pairs(collection, 1)
    pair = CandidatePair.objects.get(pk=pk)
    take_away(pair.image_a)

    with pytest.raises(FileNotFoundError):
        verification.verify_pair(pair)

    pair.refresh_from_db()
    assert (pair.verified, pair.open_attempts, pair.open_error) == (False, 0, "")


def _unreachable(settings, endpoint):
    options = settings.STORAGES["default"]["OPTIONS"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {**options, "endpoint_url": endpoint}},
    }


def test_s3_down_for_everyone_marks_nothing_and_everything_verifies_once_it_is_back(
    s3, s3_endpoint, settings  # noqa: F811
):
    from catalogue.models import Collection
    from tests.test_s3 import _free_port

    collection = Collection.objects.create(name="Mirror", institution="City Archive")
    ids = unverified_pairs(collection, 6)
    working = settings.STORAGES["default"]["OPTIONS"]["endpoint_url"]
    # Nothing listens on this port: every request to the bucket is refused, as when the store is down.
    _unreachable(settings, f"http://127.0.0.1:{_free_port()}")

    with pytest.raises(verification.StorageUnavailable) as raised:
        verification.verify_pairs(ids)  # what verify_batch runs; an OSError, so the task retries it

    assert isinstance(raised.value, OSError) and OSError in tasks.verify_batch.autoretry_for
    assert not CandidatePair.objects.filter(pk__in=ids, verified=True).exists()
    assert not CandidatePair.objects.filter(pk__in=ids).exclude(open_error="").exists()
    assert not CandidatePair.objects.filter(pk__in=ids, open_attempts__gt=0).exists()

    _unreachable(settings, working)  # the store is back
    counts = tasks.resume_pending.delay().get()

    assert counts["pairs to verify"] == 6
    assert CandidatePair.objects.filter(pk__in=ids, verified=True, open_attempts=0).count() == 6
    assert not CandidatePair.objects.filter(pk__in=ids, relation="").exists()
