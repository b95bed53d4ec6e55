"""Same description, different picture: records whose metadata agrees (review.evidence) while their
images are unrelated, listed for a person to correct the catalogue. Nothing is merged here."""

from django.db.models import Q
from django.shortcuts import render

from catalogue import access
from catalogue.models import CatalogueRecord, RecordLink
from catalogue.roles import REVIEW, permission_required
from dedup.models import CandidatePair

from . import evidence
from .models import Decision
from .views import evidence_sentence

LIMIT = 500


@permission_required(REVIEW)
def same_description(request):
    records = access.only_visible(
        CatalogueRecord.objects.filter(status=CatalogueRecord.Status.ACTIVE), request.user
    ).select_related("collection")
    rows = list(records.only("catalogue_number", "title", "creator", "date_text", "collection"))
    pairs = evidence.same_descriptions([evidence.description(r) for r in rows])
    found = [(rows[i], rows[j]) for i, j in pairs]
    similar = _similar_pictures({r.pk for pair in found for r in pair})
    conflicts = []
    for a, b in found:
        if frozenset((a.pk, b.pk)) in similar:
            continue
        agreed = evidence.agreement(evidence.description(a), evidence.description(b))
        why = [evidence_sentence(e) for e in agreed]
        conflicts.append({"a": a, "b": b, "why": why})
    context = {"conflicts": conflicts[:LIMIT], "total": len(conflicts), "limit": LIMIT}
    return render(request, "review/same_description.html", context)


def _similar_pictures(record_ids):
    """Record pairs whose images the similarity search matched and no person called unrelated, or that
    a person linked as related: those are not catalogue errors."""
    pairs = CandidatePair.objects.filter(image_a__record__in=record_ids, image_b__record__in=record_ids)
    distinct = set(
        Decision.objects.filter(pair__in=pairs, kind=Decision.Kind.DISTINCT).values_list("pair_id", flat=True)
    )
    similar = {
        frozenset((a, b))
        for pk, a, b, tier in pairs.values_list("pk", "image_a__record_id", "image_b__record_id", "tier")
        if tier != CandidatePair.Tier.REJECTED and pk not in distinct
    }
    links = RecordLink.objects.filter(Q(record_a__in=record_ids) & Q(record_b__in=record_ids))
    similar.update(frozenset(pair) for pair in links.values_list("record_a_id", "record_b_id"))
    return similar
