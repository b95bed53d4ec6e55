"""Band decisions on the screen (supervisors): choose a collection, a relation and a score band; see the
open pairs, the estimated precision with its 95% interval and a random sample of 24; accept the
suggested master for all of them as one batch, which reverts as one. The rules are review.bands'."""

from django.contrib import messages
from django.db.models import Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalogue import access
from catalogue.roles import SUPERVISE, permission_required

from . import bands, queue_counts, services, supervision
from .models import BandDecision, ReviewItem
from .views import BAND_LABELS

# Band decisions listed on the band page, newest first.
RECENT = 10


def _get_band(request, data):
    """The band the request names (collection the user may see, relation, score band), or None when
    it names none; a collection the user may not see is a 404."""
    pk = data.get("collection", "")
    if not pk.isdigit():
        return None
    collection = get_object_or_404(access.visible_collections(request.user), pk=pk)
    relation, band = data.get("relation", ""), data.get("band", "")
    if not relation or band not in services.SCORE_BANDS:
        return collection
    return bands.Band(collection, relation, band)


def _band_url(band):
    query = urlencode({"collection": band.collection.pk, "relation": band.relation, "band": band.band})
    return f"{reverse('review-supervisor-bands')}?{query}"


def _cells(request, collection):
    """(relation, band key, band label, open pairs) of the collection's open queue, from the counters."""
    found = queue_counts.filtered(
        queue_counts.cells(access.visible_ids(request.user), [ReviewItem.Status.OPEN]),
        {"collection": collection.pk},
    )
    rows = {
        (relation, band): n
        for relation, band, n in found.values_list("relation", "band").annotate(total=Sum("n")).order_by()
    }
    order = list(services.SCORE_BANDS)
    return [
        (relation, band, BAND_LABELS[band], n)
        for (relation, band), n in sorted(rows.items(), key=lambda row: (row[0][0], order.index(row[0][1])))
    ]


@permission_required(SUPERVISE)
def band_page(request):
    chosen = _get_band(request, request.GET)
    band = chosen if isinstance(chosen, bands.Band) else None
    collection = band.collection if band else chosen
    context = {
        "collections": access.visible_collections(request.user).order_by("name").only("pk", "name"),
        "collection": collection,
        "band": band,
        "band_labels": list(BAND_LABELS.items()),
        "cells": _cells(request, collection) if collection else [],
        "recent": access.within(
            BandDecision.objects.select_related("collection", "actor"), access.visible_ids(request.user)
        ).order_by("-created_at")[:RECENT],
    }
    if band is not None:
        estimate, level, refusal = bands.check(band, request.user)
        context.update(
            {
                "band_label": BAND_LABELS[band.band],
                "open": bands.open_count(band, request.user),
                "estimate": estimate,
                "level": level,
                "refusal": refusal,
                "sample": [
                    {
                        "item": item,
                        "images": [item.pair.image_a, item.pair.image_b],
                        "master": bands.suggested_master(item.pair),
                    }
                    for item in bands.sample(band, request.user)
                ],
            }
        )
    return render(request, "review/supervisor/bands.html", context)


@require_POST
@permission_required(SUPERVISE)
def band_accept(request):
    band = _get_band(request, request.POST)
    if not isinstance(band, bands.Band):
        messages.error(request, _("Choose a collection, a relation and a score band."))
        return redirect("review-supervisor-bands")
    try:
        result = bands.decide(band, request.user, comment=request.POST.get("comment", "").strip())
    except bands.BandError as exc:
        messages.error(request, str(exc))
        return redirect(_band_url(band))
    if result.pending:
        messages.success(
            request,
            _(
                "%(n)d decisions proposed as one batch: under the two-person rules another supervisor "
                "approves them (%(why)s)."
            )
            % {"n": result.count, "why": "; ".join(result.reasons)},
        )
    else:
        messages.success(
            request, _("%(n)d pairs decided as one batch: the suggested master kept.") % {"n": result.count}
        )
    if result.left:
        messages.warning(request, result.left_message())
    return redirect("review-supervisor-band-batch", batch=result.batch)


def _get_batch_for_supervisor(request, batch):
    """The band decision of a batch, if the supervisor may see its collection (404 otherwise)."""
    found = bands.batch_band(batch)
    if found is None or not access.may_see(request.user, found.collection_id):
        raise Http404
    return found


@permission_required(SUPERVISE)
def band_batch(request, batch):
    found = _get_batch_for_supervisor(request, batch)
    figures = bands.batch_figures(batch)
    context = {
        "found": found,
        "band_label": BAND_LABELS.get(found.band, found.band),
        "figures": figures,
        "may_approve": figures["waiting"] > 0 and found.actor_id != request.user.pk,
        "may_revert": figures["applied"] > 0 or figures["waiting"] > 0,
        "band_url": _band_url(bands.Band(found.collection, found.relation, found.band)),
    }
    return render(request, "review/supervisor/band_batch.html", context)


def _act(request, batch, action, done):
    _get_batch_for_supervisor(request, batch)
    try:
        recorded = action(request)
    except (bands.BandError, supervision.SupervisionError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done % {"n": len(recorded)})
    return redirect("review-supervisor-band-batch", batch=batch)


@require_POST
@permission_required(SUPERVISE)
def band_approve(request, batch):
    comment = request.POST.get("comment", "").strip()
    return _act(
        request,
        batch,
        lambda r: bands.approve(batch, r.user, comment=comment),
        _("Band decision approved: %(n)d pairs decided."),
    )


@require_POST
@permission_required(SUPERVISE)
def band_decline(request, batch):
    comment = request.POST.get("comment", "").strip()
    return _act(
        request,
        batch,
        lambda r: bands.decline(batch, r.user, comment=comment),
        _("Band decision declined: %(n)d pairs are back in the queue."),
    )


@require_POST
@permission_required(SUPERVISE)
def band_revert(request, batch):
    reason = request.POST.get("reason", "").strip()
    return _act(
        request,
        batch,
        lambda r: supervision.revert_batch(batch, r.user, reason=reason),
        _("Band decision reverted: %(n)d decisions recorded to restore the catalogue."),
    )
