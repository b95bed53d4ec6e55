"""find_duplicates verifies a cluster of a picture's copies in one batch (up to CLUSTER_LIMIT pairs): each
member against the hub once and the rest inferred through it, as one verify task would. Cut into batches
of 100 pairs (the command's batch without --workers), the later batches chose hubs of their own and
compared pairs the first hub would have settled."""

import io

import pytest
from django.core.management import call_command

from dedup import verification
from dedup.models import CandidatePair, Fingerprint
from tests.test_review_corpus import add_image, encode, picture
from tests.test_verification_throughput import clear_rows

COPIES = 16  # 120 pairs: more than the 100 a batch held


def copies_of_one_picture(collection, k=COPIES):
    """The original and k-1 resized, recompressed copies, fingerprinted, not yet searched."""
    base = picture(700, (480, 360))
    images = [add_image(collection, "C-0", encode(base, quality=95))]
    for n in range(1, k):
        size = (480 - 16 * n, 360 - 12 * n)
        images.append(add_image(collection, f"C-{n}", encode(base.resize(size), quality=90 - 2 * n)))
    return images


def find_duplicates(**options):
    call_command("find_duplicates", no_progress=True, stdout=io.StringIO(), stderr=io.StringIO(), **options)


@pytest.mark.django_db
def test_a_cluster_of_120_pairs_is_verified_through_one_hub(collection):
    images = copies_of_one_picture(collection)
    assert not Fingerprint.objects.filter(searched=True).exists()
    verification.STATS.clear()

    find_duplicates(workers=1)

    pairs = CandidatePair.objects.all()
    assert pairs.count() == COPIES * (COPIES - 1) // 2 == 120  # pair search found every two copies
    assert pairs.filter(verified=True).count() == 120
    compared = pairs.filter(inferred=False)
    assert verification.STATS["compared_pairs"] == compared.count() == COPIES - 1
    assert verification.STATS["inferred_pairs"] == pairs.filter(inferred=True).count() == 105
    # every comparison was with the same image, the original (the most pixels)
    assert all(images[0].pk in (pair.image_a_id, pair.image_b_id) for pair in compared)
    for pair in pairs.filter(inferred=True):
        assert f"inferred through image {images[0].pk}" in pair.tier_reason


@pytest.mark.django_db(transaction=True)
def test_with_workers_the_cluster_goes_to_one_process_whole(collection):
    """With two processes the batch size was 31 here (a quarter of the pairs): the cluster went to four."""
    images = copies_of_one_picture(collection)

    find_duplicates(workers=2)

    pairs = CandidatePair.objects.all()
    assert pairs.filter(verified=True).count() == 120
    compared = pairs.filter(inferred=False)
    assert compared.count() == COPIES - 1
    assert all(images[0].pk in (pair.image_a_id, pair.image_b_id) for pair in compared)
    clear_rows(collection)


def test_batches_keep_clusters_whole_up_to_the_limit_and_cut_larger_ones():
    small, middle, large = list(range(30)), list(range(100, 220)), list(range(1000, 1000 + 2500))
    batches = list(verification.packed([small, middle, large], 100, limit=verification.CLUSTER_LIMIT))
    assert batches[0] == small and batches[1] == middle  # 120 pairs: one batch, not 100 + 20
    assert [len(b) for b in batches[2:]] == [1000, 1000, 500]
    assert [pk for b in batches for pk in b] == small + middle + large


@pytest.mark.django_db(transaction=True)
def test_the_background_pipeline_verifies_the_cluster_through_one_hub_too(collection):
    """The tasks cut verify batches of 50 pairs: the 120 pairs went to three tasks, each with a hub of its
    own. Run as the worker runs them (eagerly here; resume_pending enqueues the search, whose task
    enqueues verification)."""
    from dedup import tasks

    images = copies_of_one_picture(collection)

    tasks.resume_pending.delay().get()

    pairs = CandidatePair.objects.all()
    assert pairs.count() == pairs.filter(verified=True).count() == 120
    compared = pairs.filter(inferred=False)
    assert compared.count() == COPIES - 1
    assert all(images[0].pk in (pair.image_a_id, pair.image_b_id) for pair in compared)
    clear_rows(collection)
