"""The licensing API: licences (list, one, create, import a CSV), the as-of answer for any catalogue
number and date, a record's version history, and the two reports. Each endpoint checks the role its
page checks and limits everything to the collections the user may see (catalogue.access); the answers
are the pages' own data (licensing.present), so the two cannot disagree."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import CanImport, CanReview, CanView
from api.serializers import ErrorSerializer
from catalogue import access
from catalogue.models import CatalogueRecord

from . import history, present, reports, versions
from .importing import LicenceFileError, import_licences, import_rows
from .models import Licence
from .views import csv_response, get_licence_for_user, get_pair_for_user, licence_answer, matching_records

_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="invalid parameters"),
    401: OpenApiResponse(ErrorSerializer, description="no or invalid credentials"),
    403: OpenApiResponse(ErrorSerializer, description="signed in without the role"),
    404: OpenApiResponse(ErrorSerializer, description="no such object, or not visible to you"),
}


class LicenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Licence
        fields = [
            "id",
            "number",
            "client",
            "collection",
            "catalogue_number",
            "record",
            "licensed_on",
            "usage",
            "territory",
            "sha256",
            "source",
            "created_at",
        ]
        read_only_fields = fields


class LicenceInput(serializers.Serializer):
    """One licence to store; checked exactly as a CSV row is."""

    number = serializers.CharField(max_length=200)
    client = serializers.CharField(max_length=500)
    collection = serializers.IntegerField(min_value=1)
    catalogue_number = serializers.CharField(max_length=300)
    licensed_on = serializers.CharField(max_length=40, help_text="YYYY-MM-DD")
    usage = serializers.CharField(required=False, allow_blank=True, default="")
    territory = serializers.CharField(required=False, allow_blank=True, default="")
    sha256 = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class LicenceQuery(serializers.Serializer):
    collection = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    number = serializers.CharField(required=False, max_length=200)
    catalogue_number = serializers.CharField(required=False, max_length=300)


class ImportInput(serializers.Serializer):
    collection = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    file = serializers.FileField()


class AsOfQuery(serializers.Serializer):
    catalogue_number = serializers.CharField(max_length=300)
    date = serializers.DateField()
    collection = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class ReportQuery(serializers.Serializer):
    collection = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    kind = serializers.ChoiceField(choices=reports.KINDS, default="superseded")
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")


def _query(serializer_class, request):
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _collection(request, pk):
    return get_object_or_404(access.visible_collections(request.user), pk=pk)


def _licences(request):
    return access.only_visible(Licence.objects.all(), request.user).order_by("-licensed_on", "number")


class LicenceList(APIView):
    parser_classes = [JSONParser, FormParser]

    def get_permissions(self):
        return [CanImport()] if self.request.method == "POST" else [CanView()]

    @extend_schema(
        summary="Licences in the collections you may see",
        parameters=[LicenceQuery],
        responses={200: LicenceSerializer(many=True), **_ERRORS},
    )
    def get(self, request):
        query = _query(LicenceQuery, request)
        licences = _licences(request)
        for name in ("collection", "number"):
            if name in query:
                licences = licences.filter(**{name: query[name]})
        if "catalogue_number" in query:
            licences = licences.filter(catalogue_number__iexact=query["catalogue_number"])
        return Response(LicenceSerializer(licences[:1000], many=True).data)

    @extend_schema(
        summary="Store one licence (administrators); refused with the reason a CSV row would get",
        request=LicenceInput,
        responses={201: LicenceSerializer, **_ERRORS},
    )
    def post(self, request):
        data = LicenceInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        collection = _collection(request, values.pop("collection"))
        row = {**values, "licence_number": values.pop("number"), "licence_date": values.pop("licensed_on")}
        result = import_rows([(1, row)], collection, user=request.user, source="api")
        if result.problems:
            return Response({"detail": result.problems[0]["message"]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(LicenceSerializer(result.created[0]).data, status=status.HTTP_201_CREATED)


class LicenceImport(APIView):
    permission_classes = [CanImport]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Import licences from a CSV file (administrators): the good rows, and each bad row's reason",
        request={"multipart/form-data": ImportInput},
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def post(self, request):
        data = ImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        collection = _collection(request, data.validated_data["collection"])
        upload = data.validated_data["file"]
        try:
            result = import_licences(upload.read(), collection, user=request.user, source=upload.name)
        except LicenceFileError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict())


def _json(data):
    return HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False), content_type="application/json"
    )


class LicenceDetail(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="A licence, and what its catalogue number delivered on the licence date and delivers today",
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def get(self, request, pk):
        licence = get_licence_for_user(request.user, pk)
        return _json(
            {"licence": present.licence_data(licence), "answer": licence_answer(licence, request.user)}
        )


class AsOf(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="What a catalogue number delivered on a date (one answer per record with that number)",
        parameters=[AsOfQuery],
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def get(self, request):
        query = _query(AsOfQuery, request)
        collection = _collection(request, query["collection"]) if "collection" in query else None
        moment = history.end_of_day(query["date"])
        answers = [
            present.answer_data(history.as_of(record, moment, request.user), request.user)
            for record in matching_records(request.user, query["catalogue_number"], collection)
        ]
        return _json(
            {"catalogue_number": query["catalogue_number"], "date": query["date"], "answers": answers}
        )


class RecordHistory(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="A record's version history: files, masters, supersessions, merges, links, in order",
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def get(self, request, pk):
        record = get_object_or_404(access.only_visible(CatalogueRecord.objects.all(), request.user), pk=pk)
        events = [present.event_data(e) for e in history.timeline(record, request.user)]
        return _json({"record": record.pk, "catalogue_number": record.catalogue_number, "events": events})


class LicenceReport(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="Licences whose file is no longer the master (kind=superseded), or whose record was merged "
        "into other rights or credit (kind=rights), per collection",
        parameters=[ReportQuery],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
            **_ERRORS,
        },
    )
    def get(self, request):
        query = _query(ReportQuery, request)
        collection = _collection(request, query["collection"])
        rows = reports.rows(collection, query["kind"], request.user)
        if query["format"] == "csv":
            return csv_response(rows, f"licences-{query['kind']}-{collection.pk}")
        return _json({"collection": collection.pk, "kind": query["kind"], "licences": list(rows)})


class UpdatedVersionInput(serializers.Serializer):
    newer = serializers.ChoiceField(
        choices=["left", "right"], help_text="which image of the pair is the newer"
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class UpdatedVersion(APIView):
    permission_classes = [CanReview]
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        summary="Record that one image of a pair is an updated version of the other (its record is master)",
        request=UpdatedVersionInput,
        responses={
            201: OpenApiTypes.OBJECT,
            409: OpenApiResponse(
                ErrorSerializer, description="refused: already decided, contradicts, needs approval"
            ),
            **_ERRORS,
        },
    )
    def post(self, request, pk):
        pair = get_pair_for_user(request.user, pk)
        data = UpdatedVersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            decision = versions.record_updated_version(
                pair, data.validated_data["newer"], request.user, data.validated_data["comment"]
            )
        except versions.VersionError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(
            {"decision": decision.pk, "master": decision.master_id, "superseded": decision.superseded_id},
            status=status.HTTP_201_CREATED,
        )
