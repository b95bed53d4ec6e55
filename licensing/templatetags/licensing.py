"""The record page's version history, as an inclusion tag: the catalogue's template asks for it by name
({% load licensing %}{% record_history record %}), so catalogue's Python never imports licensing."""

from django import template
from django.db.models import Q

from catalogue import access
from catalogue.roles import REVIEW
from dedup.models import CandidatePair

from ..history import timeline
from ..models import Licence

register = template.Library()


def _version_candidates(record, user):
    """Pairs of this record's files with another record's, for saying this one is an updated version."""
    if not user.has_perm(REVIEW):
        return []
    pairs = access.only_visible(
        CandidatePair.objects.filter(Q(image_a__record=record) | Q(image_b__record=record)),
        user,
        *access.PAIR_COLLECTIONS,
    ).select_related("image_a__record", "image_b__record")
    here = record.resolve().pk
    found = []
    for pair in pairs.order_by("-score", "pk")[:20]:
        mine, other = (
            ("left", pair.image_b) if pair.image_a.record_id == record.pk else ("right", pair.image_a)
        )
        if other.record.resolve().pk != here:
            found.append({"pair": pair, "side": mine, "other": other.record})
    return found


@register.inclusion_tag("licensing/_record_history.html", takes_context=True)
def record_history(context, record):
    request = context["request"]
    user = request.user
    licences = access.only_visible(Licence.objects.filter(record=record), user).order_by("licensed_on")
    return {
        "record": record,
        "events": timeline(record, user),
        "licences": list(licences[:50]),
        "version_candidates": _version_candidates(record, user),
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
