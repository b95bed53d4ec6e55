"""Two-person rules on the screen: the supervisors' approvals page, approve and decline."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalogue import access
from catalogue.roles import SUPERVISE, permission_required
from mastercopy.redirects import redirect_back

from . import approval
from .models import BandDecision, Decision

PAGE_SIZE = 50


@permission_required(SUPERVISE)
def approvals(request):
    collection = None
    collections = access.visible_collections(request.user)
    if request.GET.get("collection", "").isdigit():
        collection = get_object_or_404(collections, pk=request.GET["collection"])
    # A band decision's proposals wait as one batch (review.bands): listed once, above the others.
    band_batches = BandDecision.objects.filter(proposed=True)
    if collection is not None:
        band_batches = band_batches.filter(collection=collection)
    proposals = access.only_visible(
        approval.waiting_list(collection, related=False).exclude(batch__in=band_batches.values("batch")),
        request.user,
        *access.DECISION_COLLECTIONS,
    )
    # Counted and paged on the bare proposals; only the page's 50 are joined to what the page shows.
    page = Paginator(proposals.values_list("pk", flat=True), PAGE_SIZE).get_page(request.GET.get("page"))
    shown = approval.shown(list(page.object_list))
    page.object_list = [shown[pk] for pk in page.object_list if pk in shown]
    waiting_batches = approval.waiting().filter(batch__in=band_batches.values("batch")).values("batch")
    context = {
        "bands": access.within(
            band_batches.filter(batch__in=waiting_batches).select_related("collection", "actor"),
            access.visible_ids(request.user),
        ).order_by("created_at"),
        "page": page,
        "collection": collection,
        "collections": collections.order_by("name").only("pk", "name"),
    }
    return render(request, "review/supervisor/approvals.html", context)


def _act(request, pk, action, done):
    pair = get_object_or_404(
        Decision.objects.values_list("pair__image_a__collection_id", "pair__image_b__collection_id"), pk=pk
    )
    access.require(request.user, *pair)
    try:
        decision = action(pk, request.user, comment=request.POST.get("comment", "").strip())
    except approval.ApprovalError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done % {"pk": pk, "kind": decision.get_kind_display()})
    return redirect_back(request, "review-approvals")


@require_POST
@permission_required(SUPERVISE)
def approve(request, pk):
    return _act(request, pk, approval.approve, _("Decision %(pk)s approved: %(kind)s applied."))


@require_POST
@permission_required(SUPERVISE)
def decline(request, pk):
    return _act(request, pk, approval.decline, _("Decision %(pk)s declined: the pair is back in the queue."))
