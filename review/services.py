"""Decisions and their consequences in the catalogue, each inside one transaction."""

from django.db import transaction

from catalogue.models import CatalogueRecord, RecordLink

from .models import Decision


def _evidence(pair):
    return {
        "score": pair.score,
        "tier": pair.tier,
        "relation": pair.relation,
        "explanation": pair.explanation,
        "distances": {
            name: getattr(pair, name)
            for name in (
                "phash_distance",
                "dhash_distance",
                "orientation_distance",
                "border_distance",
                "crop_distance",
            )
        },
    }


def _states(*records):
    return [r.state() for r in records if r is not None]


@transaction.atomic
def decide_duplicate(pair, master_record, *, actor=None, automatic=False, reason="", comment=""):
    """Supersede the other record of the pair by master_record, recording the decision."""
    records = {pair.image_a.record, pair.image_b.record}
    others = [r for r in records if r.pk != master_record.pk]
    superseded = others[0] if others else None
    touched = list(CatalogueRecord.objects.select_for_update().filter(pk__in=[r.pk for r in records]))
    followers = list(CatalogueRecord.objects.filter(master__in=[r.pk for r in others]))
    before = _states(*touched, *followers)
    if superseded is not None and superseded.resolve().pk != master_record.resolve().pk:
        superseded.supersede(master_record)
    after = _states(*(CatalogueRecord.objects.get(pk=r["record"]) for r in before))
    return Decision.objects.create(
        pair=pair,
        kind=Decision.Kind.DUPLICATE,
        master=master_record,
        superseded=superseded,
        actor=actor,
        automatic=automatic,
        reason=reason[:500],
        comment=comment,
        evidence=_evidence(pair),
        before=before,
        after=after,
    )


@transaction.atomic
def decide(pair, kind, *, actor, comment=""):
    """related, distinct, skip or escalate: record it; related links the two records both ways."""
    a, b = pair.image_a.record, pair.image_b.record
    if kind == Decision.Kind.RELATED and a.pk != b.pk:
        RecordLink.link(a, b, note=pair.relation)
    return Decision.objects.create(
        pair=pair,
        kind=kind,
        actor=actor,
        comment=comment,
        evidence=_evidence(pair),
        before=_states(a, b),
        after=_states(a, b),
    )
