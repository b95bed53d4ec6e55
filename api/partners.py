"""The partner mapping export in the API: the supervisors' page's export (review.exports) behind token
authentication."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from catalogue import access
from review import exports

from .views import NOT_FOUND, TABLE, Export, query_of


class PartnerExportQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=[("csv", "CSV"), ("json", "JSON")], required=False)
    side = serializers.ChoiceField(
        choices=[("partner", "per partner record, in its numbers"), ("ours", "per record of ours")],
        required=False,
    )


@extend_schema(
    summary="Partner mapping: each partner record in its own numbers with our master, relation and decision",
    parameters=[PartnerExportQuery],
    responses={**TABLE, **NOT_FOUND},
)
class PartnerExport(Export):
    def get(self, request, pk):
        query = query_of(PartnerExportQuery, request)
        collection = get_object_or_404(access.visible_collections(request.user), pk=pk)
        if not collection.partner:
            raise Http404("not a partner collection")
        return exports.partner_response(request.user, collection, query.get("side"), query.get("format"))
