"""The partner mapping export (review.partners) as CSV or JSON, for supervisors; the API serves the same
view (api.partners)."""

from django.http import Http404
from django.shortcuts import get_object_or_404

from catalogue import access
from catalogue.roles import SUPERVISE, permission_required

from . import partners
from .views_supervisor import _table, _with_head


@permission_required(SUPERVISE)
def export_partner(request, pk):
    """?side=partner (default): per partner record, in its numbers; ?side=ours: per our record."""
    collection = get_object_or_404(access.visible_collections(request.user), pk=pk)
    if not collection.partner:
        raise Http404("not a partner collection")
    visible = access.visible_ids(request.user)
    if request.GET.get("side") == "ours":
        rows, fields, name = partners.our_rows(collection, visible), partners.OUR_FIELDS, "ours"
    else:
        rows, fields, name = partners.partner_rows(collection, visible), partners.PARTNER_FIELDS, "partner"
    name = f"mastercopy-{name}-mapping-{collection.pk}"
    return _with_head(_table(rows, fields, name, request.GET.get("format")))
