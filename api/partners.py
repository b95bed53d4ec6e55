"""The partner mapping export in the API: the supervisors' page view behind token authentication."""

from django.http import QueryDict
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from review import views_partner

from .views import _NOT_FOUND, _TABLE, _Export, _query


class PartnerExportQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=[("csv", "CSV"), ("json", "JSON")], required=False)
    side = serializers.ChoiceField(
        choices=[("partner", "per partner record, in its numbers"), ("ours", "per record of ours")],
        required=False,
    )


@extend_schema(
    summary="Partner mapping: each partner record in its own numbers with our master, relation and decision",
    parameters=[PartnerExportQuery],
    responses={**_TABLE, **_NOT_FOUND},
)
class PartnerExport(_Export):
    page_view = staticmethod(views_partner.export_partner)

    def get(self, request, pk):
        django_request = request._request
        cleaned = QueryDict(mutable=True)
        cleaned.update({name: str(value) for name, value in _query(PartnerExportQuery, request).items()})
        django_request.GET = cleaned
        return self.page_view(django_request, pk)
