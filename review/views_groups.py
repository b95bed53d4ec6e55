"""The groups overview and the group screen (review.groups): a whole candidate group in one screen,
its answers recorded as one batch; undo and (for supervisors) revert of a whole submit."""

from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from catalogue import access
from catalogue.roles import REVIEW, SUPERVISE, permission_required
from dedup import policy
from dedup.models import CandidatePair
from mastercopy.redirects import redirect_back

from . import groups, queue_counts, services, supervision


def _get_group_for_user(request, pk):
    group = groups.visible_group(pk, request.user)
    if group is None:
        raise Http404
    return group


def _cursor(value):
    """The overview's cursor from the query string (priority:score:item), None when absent or bad."""
    try:
        priority, score, pk = value.split(":")
        return float(priority), float(score), int(pk)
    except ValueError:
        return None


@permission_required(REVIEW)
def overview(request):
    filters = {"collection": request.GET.get("collection", ""), "relation": request.GET.get("relation", "")}
    if not filters["collection"].isdigit():
        filters["collection"] = ""
    rows, cursor = groups.overview(request.user, filters, after=_cursor(request.GET.get("after", "")))
    query = {key: value for key, value in filters.items() if value}
    ids = access.visible_ids(request.user)
    cells = queue_counts.cells(ids, [services.ReviewItem.Status.OPEN])
    context = {
        "rows": rows,
        "filters": filters,
        "collections": access.visible_collections(request.user).order_by("name"),
        "relations": sorted(queue_counts.by(cells, "relation")),
        "next": urlencode({**query, "after": ":".join(map(str, cursor))}) if cursor else "",
        "first": urlencode(query),
    }
    return render(request, "review/groups.html", context)


def _member_rows(group, screen):
    """Each member with its quality facts as the pair screen shows them (dedup.policy.shown_quality,
    templates/review/_quality.html), told through its pair with the proposed master (an upscale of it
    says so)."""
    with_master = {
        (pair.image_b_id if pair.image_a_id == group.master_id else pair.image_a_id): pair
        for pair in CandidatePair.objects.filter(group=group)
        .filter(Q(image_a_id=group.master_id) | Q(image_b_id=group.master_id))
        .select_related("image_a", "image_b")
    }
    return [
        {
            "image": image,
            "is_master": image.pk == group.master_id,
            "quality": policy.shown_quality(image, with_master.get(image.pk)),
            "to_master": screen["with_master"].get(image.pk),
        }
        for image in screen["members"]
    ]


@permission_required(REVIEW)
def group(request, pk):
    group = _get_group_for_user(request, pk)
    supervisor = request.user.has_perm(SUPERVISE)
    if request.method == "POST":
        return _submit(request, group, supervisor)
    screen = groups.screen(group, supervisor)
    context = {
        "group": group,
        "members": _member_rows(group, screen),
        "seen": ",".join(map(str, screen["seen"])),
        "waiting": len(screen["seen"]),
        "last": services.last_decision(request.user),
        "can_supervise": supervisor,
    }
    return render(request, "review/group.html", context)


def _submit(request, group, supervisor):
    try:
        master = int(request.POST.get("master", ""))
        seen = [int(pk) for pk in request.POST.get("seen", "").split(",") if pk]
    except ValueError:
        messages.error(request, _("Choose the master among the group's members."))
        return redirect("review-group", group.pk)
    marks = {}
    for name, value in request.POST.items():
        if name.startswith("mark-") and name[5:].isdigit():
            marks[int(name[5:])] = value
    try:
        batch, recorded, left = groups.submit(
            group.pk,
            request.user,
            master,
            marks,
            seen,
            supervisor=supervisor,
            comment=request.POST.get("comment", "").strip(),
        )
    except services.ReviewError as refusal:
        messages.error(request, str(refusal))
        return redirect("review-group", group.pk)
    pending = sum(1 for decision in recorded if decision.pending)
    text = ngettext("%(n)d decision recorded", "%(n)d decisions recorded", len(recorded)) % {
        "n": len(recorded)
    }
    if pending:
        text += "; " + ngettext(
            "%(n)d waits for a supervisor's approval", "%(n)d wait for a supervisor's approval", pending
        ) % {"n": pending}
    if left:
        text += "; " + ngettext(
            "%(n)d pair the marks do not answer stays in the queue",
            "%(n)d pairs the marks do not answer stay in the queue",
            left,
        ) % {"n": left}
    messages.success(request, text + ".")
    request.session["last_group_batch"] = str(batch)
    return redirect("review-group", group.pk)


@require_POST
@permission_required(REVIEW)
def hold_group(request, pk):
    """The group screen's first mark (group.js): lease the group's waiting pairs, so that nobody takes
    one of them on the pair screen while the marks are made. 409 with the reason when someone else holds
    one or the group changed since it was shown; the screen says so at once, before the marks are lost."""
    group = _get_group_for_user(request, pk)
    try:
        seen = [int(value) for value in request.POST.get("seen", "").split(",") if value]
    except ValueError:
        seen = [0]  # no pair's id: refused below as a group that changed since it was shown
    try:
        lease = groups.hold(group.pk, request.user, seen, supervisor=request.user.has_perm(SUPERVISE))
    except services.ReviewError as refusal:
        return JsonResponse({"held": False, "message": str(refusal)}, status=409)
    return JsonResponse({"held": True, "seconds": int(lease.total_seconds())})


@require_POST
@permission_required(REVIEW)
def undo_group(request, pk):
    group = _get_group_for_user(request, pk)
    try:
        services.undo_last(request.user)
    except services.ReviewError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("Undone: your last submit of this screen, all its decisions."))
    return redirect("review-group", group.pk)


@require_POST
@permission_required(SUPERVISE)
def revert_batch(request):
    batch = request.POST.get("batch", "")
    visible = access.visible_ids(request.user)
    members = supervision.batch_decisions(batch)
    if (
        visible is not None
        and access.within(members, visible, *access.DECISION_COLLECTIONS).count() != members.count()
    ):
        raise Http404
    try:
        reverts = supervision.revert_batch(batch, request.user, reason=request.POST.get("reason", "").strip())
    except supervision.SupervisionError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request,
            ngettext(
                "Reverted: %(n)d decision of the batch.",
                "Reverted: %(n)d decisions of the batch.",
                len(reverts),
            )
            % {"n": len(reverts)},
        )
    return redirect_back(request, "review-groups")
