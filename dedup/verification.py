"""Verification of candidate pairs on the images themselves, then the tier rules.

Runs after pair search, in the same batches. Each pair is verified once (``verified``); a rerun skips
it, so the verdicts, tiers and any decisions taken on the pair stick.
"""

import json
import logging

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q

from . import policy
from .events import pair_settled
from .models import CandidatePair
from .tiers import PairFacts, classify

log = logging.getLogger(__name__)


@transaction.atomic
def _save(pair, *, relation, params, sentence, tier, reason, priority):
    """Store the verdict once; False if another worker verified the pair first."""
    if CandidatePair.objects.select_for_update().filter(pk=pair.pk, verified=True).exists():
        return False
    pair.relation, pair.relation_params, pair.explanation = relation, _plain(params), sentence
    pair.tier, pair.tier_reason, pair.priority, pair.verified = tier, reason[:500], priority, True
    pair.save(
        update_fields=[
            "relation",
            "relation_params",
            "explanation",
            "tier",
            "tier_reason",
            "priority",
            "verified",
            "updated_at",
        ]
    )
    return True


def unverified(image_ids=None):
    pairs = CandidatePair.objects.filter(verified=False)
    if image_ids is not None:
        pairs = pairs.filter(Q(image_a__in=image_ids) | Q(image_b__in=image_ids))
    return list(pairs.order_by("pk").values_list("pk", flat=True))


def verify_pairs(pair_ids, on_progress=None):
    pairs = CandidatePair.objects.filter(pk__in=pair_ids, verified=False).select_related(
        "image_a__record", "image_b__record", "image_a__collection", "image_b__collection"
    )
    for pair in pairs.order_by("pk"):
        verify_pair(pair)
        if on_progress:
            on_progress()


def _info(image):
    return {"sha256": image.sha256, "format": image.format, "size": image.size}


def _open_both(pair):
    """Both originals, opened: a storage failure here (bucket unreachable, file missing) propagates, so
    the task retries and resume_pending comes back for the pair; it says nothing about the pair."""
    left = default_storage.open(pair.image_a.storage_key, "rb")
    try:
        return left, default_storage.open(pair.image_b.storage_key, "rb")
    except BaseException:
        left.close()
        raise


def _verdict(pair, left, right):
    from .verify import verify  # OpenCV loads only in the processes that verify

    return verify(left, right, left_info=_info(pair.image_a), right_info=_info(pair.image_b))


def facts_for(pair, verdict):
    a, b = pair.image_a, pair.image_b
    policies = policy.for_collection(a.collection), policy.for_collection(b.collection)
    return PairFacts(
        same_bytes=pair.same_bytes,
        pixel_identical="pixel-identical" in verdict.labels,
        different=verdict.different,
        labels=verdict.labels,
        confidence=verdict.confidence,
        rights=(a.record.rights, b.record.rights),
        credit_lines=(a.record.credit_line, b.record.credit_line),
        owners=(a.collection.institution, b.collection.institution),
        auto_settle=tuple(p["auto_settle"] for p in policies),
        score=pair.score,
        review_min_score=max(float(p["review_min_score"]) for p in policies),
        relation=verdict.relation,
        auto_from=auto_from(policies, verdict.relation),
    )


def auto_from(policies, relation):
    """The score from which both collections settle this relation automatically as a duplicate."""
    scores = [p["auto_relations"].get(relation) for p in policies]
    if not relation or any(s is None for s in scores):
        return None
    if not all(policy.same_record(relation, p) for p in policies):
        return None
    return max(float(s) for s in scores)


def _plain(params):
    """numpy scalars and tuples as plain JSON values."""
    return json.loads(json.dumps(params, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def verify_pair(pair):
    left, right = _open_both(pair)
    try:
        with left, right:
            verdict = _verdict(pair, left, right)
    except Exception as exc:  # noqa: BLE001 - one undecodable pair must not stop the batch; a person looks
        log.exception("verification failed for pair %s", pair.pk)
        _save(
            pair,
            relation="",
            params={},
            sentence="",
            tier=CandidatePair.Tier.REVIEW,
            reason=f"verification failed ({type(exc).__name__}: {exc}); a person must compare",
            priority=0.5,
        )
        return
    result = classify(facts_for(pair, verdict))
    with transaction.atomic():
        saved = _save(
            pair,
            relation=verdict.relation,
            params=verdict.params,
            sentence=verdict.sentence,
            tier=result.tier,
            reason=result.reason,
            priority=result.priority,
        )
        if not saved:
            return
        if result.settle:
            rule = policy.for_collection(pair.image_a.collection)["keep_best"]
            ranked, why = policy.rank_images([pair.image_a, pair.image_b], rule)
            pair_settled.send(
                sender=CandidatePair,
                pair=pair,
                master_image=ranked[0],
                reason=f"{result.reason}; master by keep-best rule: {why}",
            )
