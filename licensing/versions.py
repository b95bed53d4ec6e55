"""Updated versions: a reviewer records that one image of a candidate pair is an updated version of the
other (a newer, larger or colour-corrected file from the rights holder). It is a duplicate decision
whose master is the newer record, so the older is retired (superseded, its number resolving to the
newer) and every licence of it still answers, as of its date, with the file that was delivered; the
decision's evidence says which file replaced which, so the relation is in the chain, the exports and
PREMIS."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from review import approval, decisions
from review.models import Decision, ReviewItem

KEY = "updated_version"


class VersionError(decisions.ReviewError):
    """Refused, with the reason said to the user."""


@transaction.atomic
def record_updated_version(pair, newer_side, user, comment=""):
    """Record that the image on newer_side ("left": image_a, "right": image_b) updates the other one."""
    newer, older = (pair.image_b, pair.image_a) if newer_side == "right" else (pair.image_a, pair.image_b)
    if newer.record_id == older.record_id:
        raise VersionError(_("Both files belong to the same record."))
    item = ReviewItem.objects.select_for_update().filter(pair=pair).first()
    if item is not None and item.status in (ReviewItem.Status.DECIDED, ReviewItem.Status.PENDING):
        raise VersionError(_("This pair has already been decided; revert that decision first."))
    if item is not None and item.lease_held_by_other(user, timezone.now()):
        raise VersionError(_("Someone else is reviewing this pair."))
    conflict = decisions.contradiction(pair, Decision.Kind.DUPLICATE)
    if conflict:
        raise VersionError(conflict)
    if approval.reasons(pair, Decision.Kind.DUPLICATE, user):
        raise VersionError(
            _(
                "This collection's two-person rules need a supervisor's approval for this decision: "
                "decide it on the review screen."
            )
        )
    reason = _("updated version: %(new)s (%(file)s) replaces %(old)s") % {
        "new": newer.record.catalogue_number,
        "file": newer.source_path,
        "old": older.record.catalogue_number,
    }
    evidence = {
        KEY: {
            "newer_image": newer.pk,
            "older_image": older.pk,
            "newer_sha256": newer.sha256,
            "older_sha256": older.sha256,
        }
    }
    return decisions.decide_duplicate(
        pair, newer.record, actor=user, reason=reason, comment=comment, evidence=evidence
    )
