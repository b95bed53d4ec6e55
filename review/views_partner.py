"""The partner mapping export (review.partners) as CSV or JSON, for supervisors; the API serves the same
view's export (api.partners)."""

from django.http import Http404
from django.shortcuts import get_object_or_404

from catalogue import access
from catalogue.roles import SUPERVISE, permission_required

from . import exports


@permission_required(SUPERVISE)
def export_partner(request, pk):
    """?side=partner (default): per partner record, in its numbers; ?side=ours: per our record."""
    collection = get_object_or_404(access.visible_collections(request.user), pk=pk)
    if not collection.partner:
        raise Http404("not a partner collection")
    return exports.partner_response(
        request.user, collection, request.GET.get("side"), request.GET.get("format")
    )
