"""Dedup's parts of the collection page: the processing progress (polled while images wait) and the
deduplication policy (shown there through dedup's template tags, saved here)."""

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalogue import access
from catalogue.models import Collection, PolicyChange
from catalogue.roles import IMPORT, VIEW, permission_required

from . import policy as dedup_policy
from .fingerprinting import progress
from .forms import PolicyForm


def _get_collection(request, pk):
    collection = get_object_or_404(Collection, pk=pk)
    access.require(request.user, collection.pk)
    return collection


@permission_required(VIEW)
def collection_progress(request, pk):
    collection = _get_collection(request, pk)
    context = {"collection": collection, "progress": progress(collection)}
    return render(request, "dedup/_progress.html", context)


@permission_required(IMPORT)
@require_POST
def collection_policy(request, pk):
    collection = _get_collection(request, pk)
    form = PolicyForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, _("The policy was not changed: %(errors)s") % {"errors": form.errors.as_text()}
        )
        return redirect(collection)
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        before = dedup_policy.for_collection(collection)
        # Keys set elsewhere (calibration's review cut-off and automatic relations) are kept.
        collection.policy = {**(collection.policy or {}), **form.policy()}
        collection.save(update_fields=["policy"])
        PolicyChange.objects.create(
            collection=collection, actor=request.user, before=before, after=collection.policy
        )
    messages.success(request, _("Policy saved. It applies to pairs verified from now on."))
    return redirect(collection)
