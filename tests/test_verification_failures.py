"""What goes wrong while verifying a pair: a pair that cannot be compared goes to a person; storage
that cannot be reached says nothing about the pair, so the pair waits for a retry instead."""

import pytest
from django.core.files.storage import default_storage

from dedup import verification
from dedup.models import CandidatePair
from tests.test_auto_settle import copies

pytestmark = pytest.mark.django_db


def test_a_pair_that_cannot_be_compared_goes_to_a_person(collection, monkeypatch):
    pair = copies(collection, 1)

    def broken(*args, **kwargs):
        raise ValueError("cannot decode the image data")

    monkeypatch.setattr("dedup.verify.verify", broken)
    verification.verify_pair(pair)

    pair.refresh_from_db()
    assert (pair.verified, pair.tier) == (True, CandidatePair.Tier.REVIEW)
    assert "verification failed (ValueError: cannot decode the image data)" in pair.tier_reason


def test_unreachable_storage_leaves_the_pair_for_a_retry(collection, monkeypatch):
    pair = copies(collection, 1)

    class Unreachable:
        def open(self, name, mode="rb"):
            if name == pair.image_b.storage_key:
                raise OSError("connection reset by the object store")
            return default_storage.open(name, mode)

    monkeypatch.setattr(verification, "default_storage", Unreachable())
    with pytest.raises(OSError, match="connection reset"):
        verification.verify_pair(pair)

    pair.refresh_from_db()
    assert (pair.verified, pair.tier) == (False, "")
    monkeypatch.setattr(verification, "default_storage", default_storage)
    verification.verify_pair(pair)  # the retry, storage back
    pair.refresh_from_db()
    assert pair.verified and pair.relation and "verification failed" not in pair.tier_reason
