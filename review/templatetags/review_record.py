"""Review's part of the record page (catalogue's template loads it; catalogue's code imports nothing of
review): the decisions behind the record's links, and those still waiting for approval."""

from django import template
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q

from catalogue import access
from dedup.models import CandidatePair
from review.models import Decision

register = template.Library()


def record_decisions_for(record, user, limit=50):
    """Who made the record master, superseded or related, and when: the newest first. The record's
    pairs are found through its images first, so every condition is one index look-up (an OR across
    the joins would read the whole decision log)."""
    images = list(record.images.values_list("pk", flat=True))
    pairs = list(
        CandidatePair.objects.filter(Q(image_a__in=images) | Q(image_b__in=images)).values_list(
            "pk", flat=True
        )
    )
    decisions = (
        access.only_visible(Decision.objects.all(), user, *access.DECISION_COLLECTIONS)
        .filter(Q(master=record) | Q(superseded=record) | Q(pair__in=pairs))
        .select_related("actor", "master", "superseded")
        .annotate(
            waiting=ExpressionWrapper(
                Q(pending=True)
                & ~Exists(Decision.objects.filter(approves=OuterRef("pk")))
                & ~Exists(Decision.objects.filter(corrects=OuterRef("pk"))),
                output_field=BooleanField(),
            )
        )
        .order_by("-created_at", "-pk")[:limit]
    )
    decisions = list(decisions)
    return {"decisions": decisions, "waiting": [d for d in decisions if d.waiting]}


@register.simple_tag(takes_context=True)
def record_decisions(context, record):
    return record_decisions_for(record, context["request"].user)
