"""The REST API: the catalogue, the pipeline's pairs and groups, decisions and exports.

Every endpoint checks the same permission as the page that shows the same thing (catalogue.roles).
Decisions go through review.services.review, the review screen's own function, so every rule the
screen applies (leases, contradictions, approvals) applies here too; downloads and exports are made by
the functions the pages use (catalogue.files, dedup.derivatives, review.exports), called once the API
has authenticated the request and checked the role."""

from django.contrib.auth import authenticate
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from catalogue import access
from catalogue.files import original_response
from catalogue.models import CatalogueRecord, Collection, ImageFile, ImportBatch
from catalogue.roles import SUPERVISE
from dedup import policy as dedup_policy
from dedup.derivatives import derivative_response
from dedup.fingerprinting import progress as collection_progress
from dedup.models import CandidateGroup, CandidatePair
from mastercopy import auth as login_limits
from review import approval, exports, services
from review import views_supervisor as supervisor_views
from review.models import Decision, ReviewItem

from . import serializers as s
from . import tokens as api_tokens
from .permissions import CanImport, CanReview, CanSupervise, CanView


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class TooManyAttempts(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"


class FileNegotiation(BaseContentNegotiation):
    """Downloads and exports answer with their own content type whatever the client accepts (an image
    viewer asks for image/*); their errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def query_of(serializer_class, request):
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _visible(view, queryset, *fields):
    """queryset limited to the collections the requesting user may see (catalogue.access); the schema
    generator, which has no user, gets it whole (it only reads the model from it)."""
    if getattr(view, "swagger_fake_view", False) or view.request is None:
        return queryset
    return access.only_visible(queryset, view.request.user, *fields)


def _count(model, field):
    """A per-row count as a subquery: two joined counts in one query would multiply each other."""
    rows = model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0)


_UNAUTHORISED = {
    401: OpenApiResponse(s.ErrorSerializer, description="no or invalid credentials"),
    403: OpenApiResponse(s.ErrorSerializer, description="signed in without the role"),
}
NOT_FOUND = {404: OpenApiResponse(s.ErrorSerializer, description="no such object")}
_BINARY = {"image/*": OpenApiTypes.BINARY}


# --- catalogue --------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Collections", responses={200: s.CollectionSerializer, **_UNAUTHORISED}),
    retrieve=extend_schema(
        summary="A collection with its policy and fingerprinting progress",
        responses={200: s.CollectionDetailSerializer, **_UNAUTHORISED, **NOT_FOUND},
    ),
    create=extend_schema(
        summary="Create a collection (administrators)",
        request=s.CollectionSerializer,
        responses={201: s.CollectionDetailSerializer, 400: OpenApiTypes.OBJECT, **_UNAUTHORISED},
    ),
)
class CollectionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, GenericViewSet
):
    serializer_class = s.CollectionSerializer

    def get_permissions(self):
        return [CanImport()] if self.action == "create" else [CanView()]

    def get_queryset(self):
        return (
            _visible(self, Collection.objects.all(), "pk")
            .annotate(
                image_count=_count(ImageFile, "collection"),
                record_count=_count(CatalogueRecord, "collection"),
            )
            .order_by("name", "pk")
        )

    def retrieve(self, request, *args, **kwargs):
        return Response(self._detail(self.get_object()))

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        collection = serializer.save(created_by=request.user)
        return Response(self._detail(self.get_queryset().get(pk=collection.pk)), status=201)

    def _detail(self, collection):
        collection.policy = dedup_policy.for_collection(collection)
        collection.progress = collection_progress(collection)
        return s.CollectionDetailSerializer(collection).data

    @extend_schema(
        summary="Fingerprinting progress of a collection",
        responses={200: s.ProgressSerializer, **_UNAUTHORISED, **NOT_FOUND},
    )
    @action(detail=True)
    def progress(self, request, pk=None):
        return Response(collection_progress(self.get_object()))


@extend_schema_view(
    list=extend_schema(
        summary="Catalogue records",
        parameters=[s.RecordQuery],
        responses={200: s.RecordSerializer, **_UNAUTHORISED},
    ),
    retrieve=extend_schema(
        summary="A record with its images, superseded and related records",
        responses={200: s.RecordDetailSerializer, **_UNAUTHORISED, **NOT_FOUND},
    ),
)
class RecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    permission_classes = [CanView]
    serializer_class = s.RecordSerializer

    def get_queryset(self):
        records = _visible(self, CatalogueRecord.objects.all())
        records = records.select_related("master").order_by("pk")
        if self.action == "retrieve":
            return records.prefetch_related("images")
        query = query_of(s.RecordQuery, self.request)
        if "collection" in query:
            records = records.filter(collection_id=query["collection"])
        if "status" in query:
            records = records.filter(status=query["status"])
        if "catalogue_number" in query:
            records = records.filter(catalogue_number=query["catalogue_number"])
        if query.get("q"):
            text = query["q"]
            records = records.filter(CatalogueRecord.matching(text))
        return records

    def get_serializer_class(self):
        return s.RecordDetailSerializer if self.action == "retrieve" else s.RecordSerializer


@extend_schema_view(
    list=extend_schema(
        summary="Image files (metadata)",
        parameters=[s.ImageQuery],
        responses={200: s.ImageSerializer, **_UNAUTHORISED},
    ),
    retrieve=extend_schema(
        summary="An image file's metadata",
        responses={200: s.ImageSerializer, **_UNAUTHORISED, **NOT_FOUND},
    ),
)
class ImageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    permission_classes = [CanView]
    serializer_class = s.ImageSerializer

    def get_queryset(self):
        images = _visible(self, ImageFile.objects.all()).order_by("pk")
        if self.action != "list":
            return images
        query = query_of(s.ImageQuery, self.request)
        for name in ("collection", "record"):
            if name in query:
                images = images.filter(**{f"{name}_id": query[name]})
        for name in ("state", "sha256"):
            if name in query:
                images = images.filter(**{name: query[name]})
        return images

    @extend_schema(
        summary="Download the original file",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **_UNAUTHORISED, **NOT_FOUND},
    )
    @action(detail=True, content_negotiation_class=FileNegotiation)
    def original(self, request, pk=None):
        # As the page serves it: the same authorisation, content type, file name and caching headers.
        return original_response(request.user, self.get_object())

    @extend_schema(
        summary="Download the preview (about 1600 px wide), as JPEG",
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, **_UNAUTHORISED, **NOT_FOUND},
    )
    @action(detail=True, content_negotiation_class=FileNegotiation)
    def preview(self, request, pk=None):
        return derivative_response(request.user, self.get_object().pk, "preview")

    @extend_schema(
        summary="Download the 256 px thumbnail, as JPEG",
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, **_UNAUTHORISED, **NOT_FOUND},
    )
    @action(detail=True, content_negotiation_class=FileNegotiation)
    def thumbnail(self, request, pk=None):
        return derivative_response(request.user, self.get_object().pk, "thumbnail")


@extend_schema_view(
    list=extend_schema(
        summary="Import jobs",
        parameters=[s.ImportQuery],
        responses={200: s.ImportSerializer, **_UNAUTHORISED},
    ),
    retrieve=extend_schema(
        summary="An import job: counts, per-file results and fingerprinting progress",
        parameters=[s.ImportResultQuery],
        responses={200: s.ImportDetailSerializer, **_UNAUTHORISED, **NOT_FOUND},
    ),
)
class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    permission_classes = [CanView]
    serializer_class = s.ImportSerializer

    def get_queryset(self):
        batches = _visible(self, ImportBatch.objects.all())
        batches = batches.select_related("created_by").order_by("-started_at", "-pk")
        if self.action != "list":
            return batches
        query = query_of(s.ImportQuery, self.request)
        if "collection" in query:
            batches = batches.filter(collection_id=query["collection"])
        if "source" in query:
            batches = batches.filter(source=query["source"])
        return batches

    def retrieve(self, request, *args, **kwargs):
        query = query_of(s.ImportResultQuery, request)
        context = {"result_status": query.get("status")}
        return Response(s.ImportDetailSerializer(self.get_object(), context=context).data)


# --- pairs and groups -------------------------------------------------------------------------------


def _with_label(field, label):
    """Relations are labels joined by "+": match the label anywhere, or the whole relation."""
    return (
        Q(**{field: label})
        | Q(**{f"{field}__startswith": f"{label}+"})
        | Q(**{f"{field}__endswith": f"+{label}"})
        | Q(**{f"{field}__contains": f"+{label}+"})
    )


@extend_schema_view(
    list=extend_schema(
        summary="Candidate pairs with their tier, relation and review status",
        parameters=[s.PairQuery],
        responses={200: s.PairSerializer, **_UNAUTHORISED},
    ),
    retrieve=extend_schema(
        summary="A candidate pair", responses={200: s.PairSerializer, **_UNAUTHORISED, **NOT_FOUND}
    ),
)
class PairViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    # The pages that show pairs are the review screens.
    permission_classes = [CanReview]
    serializer_class = s.PairSerializer

    def get_queryset(self):
        pairs = (
            _visible(self, CandidatePair.objects.all(), *access.PAIR_COLLECTIONS)
            .select_related("image_a__record", "image_b__record", "review_item__leased_by")
            .order_by("pk")
        )
        if self.action != "list":
            return pairs
        query = query_of(s.PairQuery, self.request)
        if "collection" in query:
            pairs = pairs.filter(
                Q(image_a__collection_id=query["collection"]) | Q(image_b__collection_id=query["collection"])
            )
        if "image" in query:
            pairs = pairs.filter(Q(image_a_id=query["image"]) | Q(image_b_id=query["image"]))
        if "tier" in query:
            pairs = pairs.filter(tier=query["tier"])
        if query.get("relation"):
            pairs = pairs.filter(_with_label("relation", query["relation"]))
        if "status" in query:
            pairs = pairs.filter(review_item__status=query["status"])
        if "group" in query:
            pairs = pairs.filter(group_id=query["group"])
        if "min_score" in query:
            pairs = pairs.filter(score__gte=query["min_score"])
        if "max_score" in query:
            pairs = pairs.filter(score__lte=query["max_score"])
        return pairs


@extend_schema_view(
    list=extend_schema(
        summary="Candidate groups (a proposed master and the images close to it)",
        parameters=[s.GroupQuery],
        responses={200: s.GroupSerializer, **_UNAUTHORISED},
    ),
    retrieve=extend_schema(
        summary="A candidate group", responses={200: s.GroupSerializer, **_UNAUTHORISED, **NOT_FOUND}
    ),
)
class GroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    permission_classes = [CanReview]
    serializer_class = s.GroupSerializer

    def get_queryset(self):
        groups = (
            _visible(self, CandidateGroup.objects.all(), "master__collection")
            .prefetch_related(
                Prefetch("members", ImageFile.objects.only("pk")),
                Prefetch("pairs", CandidatePair.objects.only("pk", "group_id")),
            )
            .order_by("pk")
        )
        if self.action != "list":
            return groups
        query = query_of(s.GroupQuery, self.request)
        if "collection" in query:
            groups = groups.filter(master__collection_id=query["collection"])
        return groups


# --- decisions --------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Decisions (supervisors see all, others their own)",
        parameters=[s.DecisionQuery],
        responses={200: s.DecisionSerializer, **_UNAUTHORISED},
    ),
    retrieve=extend_schema(
        summary="A decision", responses={200: s.DecisionSerializer, **_UNAUTHORISED, **NOT_FOUND}
    ),
    create=extend_schema(
        summary="Decide a review-tier pair, as the review screen does",
        description=(
            "The same rules as the review screen: refused (409) when the pair is decided, waits for a "
            "supervisor or an approval, or someone else holds its lease; recorded without being applied "
            "(201, applied false) when it contradicts earlier decisions (flagged, for a supervisor) or a "
            "two-person rule holds it (pending, until a supervisor approves it)."
        ),
        request=s.DecisionCreateSerializer,
        responses={
            201: s.DecisionCreatedSerializer,
            400: OpenApiTypes.OBJECT,
            409: OpenApiResponse(s.ErrorSerializer, description="refused by the review rules"),
            **_UNAUTHORISED,
        },
    ),
)
class DecisionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    permission_classes = [CanReview]
    serializer_class = s.DecisionSerializer

    def get_queryset(self):
        user = self.request.user
        decisions = Decision.objects.select_related("actor").order_by("-sequence", "-pk")
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return decisions.none()
        decisions = _visible(self, decisions, *access.DECISION_COLLECTIONS)
        if not user.has_perm(SUPERVISE):
            decisions = decisions.filter(actor=user)
        if self.action != "list":
            return decisions
        query = query_of(s.DecisionQuery, self.request)
        if "pair" in query:
            decisions = decisions.filter(pair_id=query["pair"])
        if "collection" in query:
            decisions = decisions.filter(pair__image_a__collection_id=query["collection"])
        if "kind" in query:
            decisions = decisions.filter(kind=query["kind"])
        for name in ("flagged", "pending"):
            if query.get(name) is not None:
                decisions = decisions.filter(**{name: query[name]})
        if "actor" in query:
            decisions = decisions.filter(actor__username=query["actor"])
        return decisions

    def create(self, request, *args, **kwargs):
        serializer = s.DecisionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        item = self._review_item(data["pair"])
        try:
            decision = services.review(
                item.pk,
                request.user,
                Decision.Kind(data["kind"]),
                master_side=data.get("master_side"),
                comment=data["comment"],
                merge=[name for name in services.MERGE_FIELDS if name in data["merge"]],
                supervisor=request.user.has_perm(SUPERVISE),
            )
        except services.ReviewError as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.DecisionCreatedSerializer(decision).data, status=201)

    @extend_schema(
        summary="Approve a decision waiting under a two-person rule (supervisors, not its proposer)",
        request=s.ApprovalSerializer,
        responses={
            201: s.DecisionSerializer,
            409: OpenApiResponse(s.ErrorSerializer, description="refused by the approval rules"),
            **_UNAUTHORISED,
            **NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[CanSupervise])
    def approve(self, request, pk=None):
        return self._approval(approval.approve)

    @extend_schema(
        summary="Decline a decision waiting under a two-person rule: the pair goes back to the queue",
        request=s.ApprovalSerializer,
        responses={
            201: s.DecisionSerializer,
            409: OpenApiResponse(s.ErrorSerializer, description="refused by the approval rules"),
            **_UNAUTHORISED,
            **NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[CanSupervise])
    def decline(self, request, pk=None):
        return self._approval(approval.decline)

    def _approval(self, act):
        """The approvals page's own functions, with their rules (a second person, still waiting)."""
        proposal = self.get_object()
        body = s.ApprovalSerializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        try:
            decision = act(proposal.pk, self.request.user, comment=body.validated_data["comment"])
        except approval.ApprovalError as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.DecisionSerializer(decision).data, status=201)

    def _review_item(self, pair):
        access.require_pair(self.request.user, pair)
        item = ReviewItem.objects.filter(pair=pair).first()  # the tier rules queued it with its tier
        if item is None:
            raise Conflict(
                _("This pair is not in the review queue (tier: %(tier)s).")
                % {"tier": pair.get_tier_display()}
            )
        return item


# --- exports ----------------------------------------------------------------------------------------


class Export(APIView):
    """An export page's download, made by the same function (review.exports), behind the API's
    authentication and the same permission."""

    permission_classes = [CanSupervise]
    content_negotiation_class = FileNegotiation
    query = s.TableExportQuery

    def get(self, request):
        query = query_of(self.query, request)
        collection = None
        if "collection" in query:
            collection = get_object_or_404(access.visible_collections(request.user), pk=query["collection"])
        return self.respond(request.user, collection, query.get("format"))


TABLE = {
    (200, "text/csv"): OpenApiTypes.STR,
    (200, "application/json"): OpenApiTypes.OBJECT,
    **_UNAUTHORISED,
    **NOT_FOUND,
}


@extend_schema(
    summary="Mapping export: superseded → master and related links, with who decided and when",
    parameters=[s.TableExportQuery],
    responses=TABLE,
)
class MappingExport(Export):
    respond = staticmethod(exports.mapping_response)


@extend_schema(
    summary="Exact-duplicate report: byte- or pixel-identical copies settled as duplicates",
    parameters=[s.TableExportQuery],
    responses=TABLE,
)
class ExactDuplicatesExport(Export):
    respond = staticmethod(exports.exact_response)


@extend_schema(
    summary="The decision log as PREMIS 3 events",
    parameters=[s.PremisExportQuery],
    responses={(200, "application/xml"): OpenApiTypes.STR, 400: OpenApiTypes.OBJECT, **_UNAUTHORISED},
)
class PremisExport(Export):
    def get(self, request):
        # The decision log page's own filter form: an invalid filter is a 400 here, not an empty log.
        form, decisions = supervisor_views.filtered_decisions(request.user, request.query_params)
        if form.is_bound and not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        return exports.premis_response(decisions)


# --- tokens -----------------------------------------------------------------------------------------


@extend_schema(
    summary="Exchange a username and password for a new API token",
    description="Each call makes a new token, valid until its expiry (MASTERCOPY_API_TOKEN_DAYS); only its "
    "digest is stored, so keep it: it cannot be shown again. A password change or deactivation revokes "
    "the user's tokens. Failed attempts count towards the login page's limits (same counters).",
    request=s.TokenRequestSerializer,
    responses={
        200: s.TokenSerializer,
        400: OpenApiTypes.OBJECT,
        429: OpenApiResponse(s.ErrorSerializer, description="locked out after repeated failures"),
    },
    auth=[],
)
class ObtainToken(APIView):
    authentication_classes = []
    permission_classes = []
    parser_classes = [JSONParser, FormParser]

    def post(self, request):
        serializer = s.TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username, password = serializer.validated_data["username"], serializer.validated_data["password"]
        # The limits themselves are in the authentication backend (mastercopy.auth), which counts this
        # attempt; checking first only turns a locked-out attempt into a 429 with the reason.
        if login_limits.locked_out(login_limits.request_keys(request._request, username)):
            raise TooManyAttempts(login_limits.lockout_message())
        user = authenticate(request._request, username=username, password=password)
        if user is None:
            raise ValidationError({"detail": _("Unable to log in with this username and password.")})
        token, expiry = api_tokens.issue(user)
        return Response({"token": token, "expiry": expiry})
