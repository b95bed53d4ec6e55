from datetime import datetime, time
from urllib.parse import urlencode

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalogue import access, scripts
from catalogue.models import Collection
from catalogue.roles import REVIEW, SUPERVISE, VIEW, permission_required
from dedup import policy
from dedup.derivatives import derivative_response
from dedup.models import Fingerprint

from . import evidence, queue_counts, services
from .models import Decision, ReviewItem

# The buttons of the item screen: POST value → (decision kind, master side).
CHOICES = {
    "keep-left": (Decision.Kind.DUPLICATE, "left"),
    "keep-right": (Decision.Kind.DUPLICATE, "right"),
    "related": (Decision.Kind.RELATED, None),
    "distinct": (Decision.Kind.DISTINCT, None),
    "skip": (Decision.Kind.SKIP, None),
    "escalate": (Decision.Kind.ESCALATE, None),
}
BAND_LABELS = {
    "high": gettext_lazy("0.90 and above"),
    "good": gettext_lazy("0.75 – 0.90"),
    "fair": gettext_lazy("0.50 – 0.75"),
    "weak": gettext_lazy("below 0.50"),
}
FILTER_KEYS = ("collection", "relation", "band", "order", "escalated")
_SIGNALS = (
    ("phash_distance", "phash", gettext_lazy("perceptual hash (pHash)")),
    ("dhash_distance", None, gettext_lazy("difference hash (dHash)")),
    ("orientation_distance", "orientation", gettext_lazy("rotated / mirrored hash")),
    ("border_distance", "border", gettext_lazy("hash with the border trimmed")),
    ("crop_distance", "crop", gettext_lazy("region (crop) hash")),
)
_MERGE_LABELS = {
    "title": gettext_lazy("Title"),
    "creator": gettext_lazy("Creator"),
    "date_text": gettext_lazy("Date"),
    "rights": gettext_lazy("Rights / licence"),
    "credit_line": gettext_lazy("Credit line"),
    "source": gettext_lazy("Source / provenance"),
}


def _filters(data):
    filters = {key: data.get(key, "") for key in FILTER_KEYS}
    if filters["order"] not in services.ORDERS:
        filters["order"] = "easy"
    if not filters["collection"].isdigit():
        filters["collection"] = ""
    if filters["band"] not in services.SCORE_BANDS:
        filters["band"] = ""
    return filters


def _query(filters):
    return urlencode({k: v for k, v in filters.items() if v})


def _item_url(pk, filters):
    query = _query(filters)
    return reverse("review-item", args=[pk]) + (f"?{query}" if query else "")


def _queue_url(filters):
    query = _query(filters)
    return reverse("review-queue") + (f"?{query}" if query else "")


def _get_item_for_user(request, pk):
    """The item with its pair, images, records and collections in one query, and both fingerprints in
    one more; the group, lease holder and decision are read when the item has them (one join of fifteen
    tables took PostgreSQL 50 ms to plan and under 1 ms to run). Escalated items are for supervisors."""
    item = get_object_or_404(
        ReviewItem.objects.select_related(
            "pair__image_a__record__collection", "pair__image_b__record__collection"
        ),
        pk=pk,
    )
    access.require_pair(request.user, item.pair)
    images = (item.pair.image_a, item.pair.image_b)
    found = Fingerprint.objects.in_bulk([image.pk for image in images], field_name="image_id")
    for image in images:  # cached, None too: a missing fingerprint is not looked for again
        image._state.fields_cache["fingerprint"] = found.get(image.pk)
        if image.collection_id == image.record.collection_id:  # the same row, read with the record
            image._state.fields_cache["collection"] = image.record.collection
    return item


def _escalated_allowed(request, filters):
    return bool(filters["escalated"]) and request.user.has_perm(SUPERVISE)


@permission_required(REVIEW)
def queue(request):
    filters = _filters(request.GET)
    escalated = _escalated_allowed(request, filters)
    status = ReviewItem.Status.ESCALATED if escalated else ReviewItem.Status.OPEN
    # Every count from the queue's counters (review.queue_counts: one row per status, collections,
    # relation and band, kept by the database), not three passes over a queue of a million items.
    ids = access.visible_ids(request.user)
    waiting = queue_counts.cells(ids, [status])
    by_collection = queue_counts.by(waiting, "collection_id")
    collections = Collection.objects.filter(pk__in=by_collection).only("pk", "name")
    by_band = queue_counts.by(waiting, "band")
    by_relation = sorted(queue_counts.by(waiting, "relation").items(), key=lambda row: (-row[1], row[0]))
    total = sum(by_band.values())
    unfiltered = not any(filters.get(name) for name in ("collection", "relation", "band"))
    by_status = queue_counts.by(
        queue_counts.cells(ids, [ReviewItem.Status.ESCALATED, ReviewItem.Status.PENDING]), "status"
    )
    context = {
        "filters": filters,
        "escalated": escalated,
        "total": total,
        "matching": total if unfiltered else queue_counts.total(queue_counts.filtered(waiting, filters)),
        "by_collection": [(c, by_collection[c.pk]) for c in collections],
        "by_relation": by_relation,
        "by_band": [(key, BAND_LABELS[key], by_band.get(key, 0)) for key in services.SCORE_BANDS],
        "escalated_count": by_status.get(ReviewItem.Status.ESCALATED, 0),
        "pending_count": by_status.get(ReviewItem.Status.PENDING, 0),
        # Unordered: "first by pk" walks the whole primary-key index when nothing is held.
        "held": next(
            iter(
                ReviewItem.objects.filter(leased_by=request.user, lease_expires_at__gt=timezone.now())
                .order_by()
                .only("pk", "pair_id")[:1]
            ),
            None,
        ),
        "last": services.last_decision(request.user),
        # A range on created_at (not its date) so the actor's index (decision_actor_latest) serves it.
        "decided_today": Decision.objects.filter(
            actor=request.user,
            created_at__gte=timezone.make_aware(
                datetime.combine(timezone.localdate(), time.min), timezone.get_current_timezone()
            ),
        ).count(),
    }
    return render(request, "review/queue.html", context)


@require_POST
@permission_required(REVIEW)
def start(request):
    filters = _filters(request.POST)
    pk = services.claim_next(
        request.user, filters, filters["order"], escalated=_escalated_allowed(request, filters)
    )
    if pk is None:
        messages.info(request, _("Nothing is waiting for review with these filters."))
        return redirect(_queue_url(filters))
    return redirect(_item_url(pk, filters))


@permission_required(REVIEW)
def item(request, pk):
    item = _get_item_for_user(request, pk)
    filters = _filters(request.GET)
    context = _item_context(request, item, filters)
    return render(request, "review/item.html", context)


@require_POST
@permission_required(REVIEW)
def claim(request, pk):
    item = _get_item_for_user(request, pk)
    filters = _filters(request.POST)
    if item.status == ReviewItem.Status.ESCALATED and not request.user.has_perm(SUPERVISE):
        messages.error(request, _("This pair waits for a supervisor."))
    elif not services.claim(item.pk, request.user):
        messages.error(request, _("Someone else is reviewing this pair, or it has been decided."))
    return redirect(_item_url(item.pk, filters))


@require_POST
@permission_required(REVIEW)
def decide(request, pk):
    # Only the item's id and its pair's group are needed here: the service reads (and locks) what it
    # decides on, so the item screen's ten-table join is not paid twice.
    found = (
        ReviewItem.objects.filter(pk=pk)
        .values_list("pair__group_id", "pair__image_a__collection_id", "pair__image_b__collection_id")
        .first()
    )
    if found is None:
        raise Http404
    item, group = ReviewItem(pk=pk), found[0]
    access.require(request.user, *found[1:])
    filters = _filters(request.POST)
    choice = CHOICES.get(request.POST.get("decision", ""))
    if choice is None:
        messages.error(request, _("Choose a decision."))
        return redirect(_item_url(item.pk, filters))
    kind, side = choice
    if request.POST.get("claim") and not services.claim(item.pk, request.user):
        # Opened from a link: the decision takes the lease first (a conditional UPDATE, services.claim),
        # so two people deciding one pair at once still end with one decision.
        messages.error(request, _("Someone else is reviewing this pair, or it has been decided."))
        return redirect(_item_url(item.pk, filters))
    merge = [name for name in request.POST.getlist("merge") if name in services.MERGE_FIELDS]
    try:
        decision = services.review(
            item.pk,
            request.user,
            kind,
            master_side=side,
            comment=request.POST.get("comment", "").strip(),
            merge=merge,
            supervisor=request.user.has_perm(SUPERVISE),
        )
    except services.ReviewError as exc:
        messages.error(request, str(exc))
        return redirect(_item_url(item.pk, filters))
    if decision.flagged:
        messages.warning(
            request,
            _("Not applied: %(reason)s. The pair goes to a supervisor.") % {"reason": decision.reason},
        )
    next_pk = services.claim_next(
        request.user,
        filters,
        filters["order"],
        escalated=_escalated_allowed(request, filters),
        group=group,
        resume=False,  # the decision just ended this person's lease
    )
    if next_pk is None:
        messages.info(request, _("The queue is empty for these filters. Well done."))
        return redirect(_queue_url(filters))
    return redirect(_item_url(next_pk, filters))


@require_POST
@permission_required(REVIEW)
def undo(request):
    filters = _filters(request.POST)
    back = request.POST.get("back", "")
    try:
        undone = services.undo_last(request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
        # Back to the pair the reviewer was on, not out to the queue.
        return redirect(_item_url(int(back), filters) if back.isdigit() else _queue_url(filters))
    messages.success(
        request, _("Undone: %(kind)s. Decide again.") % {"kind": undone.corrects.get_kind_display()}
    )
    item = ReviewItem.objects.filter(pair_id=undone.pair_id).first()
    return redirect(_item_url(item.pk, filters) if item else _queue_url(filters))


@permission_required(VIEW)
def image_derivative(request, pk, size):
    """A preview or thumbnail, for signed-in viewers only; originals never go through here."""
    return derivative_response(request.user, pk, size)


# --- the item screen ---------------------------------------------------------------------------------


def _fingerprint(image):
    try:
        return image.fingerprint
    except Fingerprint.DoesNotExist:
        return None


def _dpi(fingerprint):
    if not fingerprint or not fingerprint.dpi:
        return ""
    dpi = fingerprint.dpi
    values = dpi if isinstance(dpi, list | tuple) else [dpi]
    return " × ".join(f"{float(v):g}" for v in values)


def _metadata_rows(left, right):
    fl, fr = _fingerprint(left), _fingerprint(right)
    ra, rb = left.record, right.record

    def fp(f, name):
        return getattr(f, name, "") if f else ""

    rows = [
        (_("Dimensions"), f"{left.width} × {left.height}", f"{right.width} × {right.height}"),
        (_("File size"), left.size, right.size),
        (_("Format"), left.format, right.format),
        (_("Colour mode"), left.mode, right.mode),
        (_("Colour profile"), left.icc_profile, right.icc_profile),
        (_("Bit depth"), fp(fl, "bit_depth"), fp(fr, "bit_depth")),
        (_("DPI"), _dpi(fl), _dpi(fr)),
        (_("Date taken (EXIF)"), fp(fl, "exif_datetime"), fp(fr, "exif_datetime")),
        (_("Camera"), fp(fl, "camera"), fp(fr, "camera")),
        (_("Imported"), left.created_at.date(), right.created_at.date()),
        (_("Catalogue number"), ra.catalogue_number, rb.catalogue_number),
        (_("Title"), ra.title, rb.title),
        (_("Creator"), ra.creator, rb.creator),
        (_("Date"), ra.date_text, rb.date_text),
        (_("Rights / licence"), ra.rights, rb.rights),
        (_("Credit line"), ra.credit_line, rb.credit_line),
        (_("Collection"), ra.collection.name, rb.collection.name),
        (_("Source / provenance"), ra.source, rb.source),
        (_("File path"), left.source_path, right.source_path),
    ]
    return [
        {"label": label, "left": a, "right": b, "size": label == _("File size"), **_compared(a, b)}
        for label, a, b in rows
    ]


def _metadata_evidence(left, right):
    """What the two records' metadata agrees on (review.evidence), in the reader's language: shown
    with the pair's explanation as supporting evidence."""
    a, b = evidence.description(left.record), evidence.description(right.record)
    found = evidence.agreement(a, b, _file_ids(left), _file_ids(right))
    return [evidence_sentence(e) for e in found]


def _file_ids(image):
    try:
        with default_storage.open(image.storage_key, "rb") as handle:
            return evidence.file_ids(handle)
    except OSError:
        return {}


def evidence_sentence(found):
    if found.code == "number":
        return _("the same catalogue number %(number)s in both collections") % {"number": found.value}
    if found.code == "file-id":
        return _("the same %(name)s (%(value)s)") % {"name": found.detail, "value": found.value}
    fields = {
        "creator": _("the same creator"),
        "date": _("the same date"),
        "creator+date": _("the same creator and date"),
    }[found.detail]
    title = {
        "same": _("the same title"),
        "script": _("the same title in another script"),
        "near-equal": _("a near-equal title"),
    }[found.value]
    return f"{title}, {fields}"


def _compared(a, b):
    """How two metadata values compare: a difference of Chinese script only (香港大會堂 / 香港大会堂)
    is the same text, shown as such rather than as a difference."""
    if isinstance(a, str) and isinstance(b, str):
        same = scripts.compare(a, b)
        return {"differs": same == scripts.DIFFERENT, "script": same == scripts.SCRIPT}
    return {"differs": a != b, "script": False}


def _signals(pair, thresholds):
    rows = []
    for field, key, label in _SIGNALS:
        value = getattr(pair, field)
        if value is None:
            continue
        limit = thresholds.get(key) if key else None
        rows.append(
            {"label": label, "distance": value, "limit": limit, "fired": limit is not None and value <= limit}
        )
    return rows


def _group_strip(request, item, pair):
    """For a group of more than two: every member the user may see, with its thumbnail and the item
    that compares it with the group's master."""
    group = pair.group
    if group is None:
        return None
    members = list(access.only_visible(group.members.select_related("record"), request.user).order_by("pk"))
    if len(members) <= 2:
        return None
    items = {
        (row[1], row[2]): (row[0], row[3])
        for row in ReviewItem.objects.filter(pair__group=group).values_list(
            "pk", "pair__image_a", "pair__image_b", "status"
        )
    }
    strip = []
    for member in members:
        key = tuple(sorted((member.pk, group.master_id)))
        found = items.get(key)
        strip.append(
            {
                "image": member,
                "is_master": member.pk == group.master_id,
                "item": found[0] if found else None,
                "status": found[1] if found else "",
                "current": member.pk in (pair.image_a_id, pair.image_b_id) and member.pk != group.master_id,
            }
        )
    return strip


def _item_context(request, item, filters):
    pair = item.pair
    now = timezone.now()
    supervisor = request.user.has_perm(SUPERVISE)
    suggestion = policy.suggest_master(pair)
    holds = item.leased_to(request.user, now)
    open_to_me = item.status == ReviewItem.Status.OPEN or (
        item.status == ReviewItem.Status.ESCALATED and supervisor
    )
    can_decide = holds and open_to_me
    left, right = pair.image_a, pair.image_b
    merge = [
        {
            "name": name,
            "label": label,
            "left": getattr(left.record, name),
            "right": getattr(right.record, name),
        }
        for name, label in _MERGE_LABELS.items()
        if getattr(left.record, name) != getattr(right.record, name)
    ]
    return {
        "item": item,
        "pair": pair,
        "left": left,
        "right": right,
        "filters": filters,
        "query": _query(filters),
        "suggestion": suggestion,
        "quality": {
            "left": policy.shown_quality(pair.image_a, pair),
            "right": policy.shown_quality(pair.image_b, pair),
        },
        "signals": _signals(pair, policy.for_collection(pair.image_a.collection)["thresholds"]),
        "rows": _metadata_rows(left, right),
        "metadata_evidence": _metadata_evidence(left, right),
        "merge": merge,
        "strip": _group_strip(request, item, pair),
        "decisions": list(pair.decisions.select_related("actor").order_by("created_at", "pk")),
        "can_decide": can_decide,
        "proposal": item.decision if item.status == ReviewItem.Status.PENDING else None,
        "can_approve": supervisor,
        "held_by_other": item.lease_held_by_other(request.user, now),
        "can_claim": not holds
        and not item.lease_held_by_other(request.user, now)
        and (
            item.status == ReviewItem.Status.OPEN
            or (item.status == ReviewItem.Status.ESCALATED and supervisor)
        ),
        "last": services.last_decision(request.user),
        "viewer": viewer_config(pair),
        "next_url": _predicted_next(request, item, filters, supervisor),
    }


def _image_source(image):
    """What the viewer needs of one image: its preview (drawn first, and the difference's fallback), its
    IIIF Image API info.json when the tile service is installed, and the original's size (for 1:1)."""
    try:
        info = reverse("iiif-info", args=[image.pk])
    except NoReverseMatch:
        info = None
    return {
        "preview": reverse("review-image", args=[image.pk, "preview"]),
        "info": info,
        "width": image.width,
        "height": image.height,
    }


def viewer_config(pair):
    """The comparison viewer's settings for a pair (the item screen and the re-review screen)."""
    return {
        "left": _image_source(pair.image_a),
        "right": _image_source(pair.image_b),
        "params": pair.relation_params or {},
        "relation": pair.relation,
    }


def _predicted_next(request, item, filters, supervisor):
    """The item the decision on this one will most likely lead to (services.claim_next's order, this
    item left out), so the screen can fetch its page, previews and first tiles while the reviewer looks.
    Only a guess: the decision's answer says which item it really is."""
    escalated = bool(filters["escalated"]) and supervisor
    items = services.available(request.user, filters, escalated=escalated).exclude(pk=item.pk)
    found = None
    if item.pair.group_id:
        same = items.filter(pair__group_id=item.pair.group_id).order_by(*services.ORDERS["easy"])
        found = same.values_list("pk", flat=True).first()
    if found is None:
        ordered = items.order_by(*services.ORDERS.get(filters["order"], services.ORDERS["easy"]))
        found = ordered.values_list("pk", flat=True).first()
    return _item_url(found, filters) if found else ""
