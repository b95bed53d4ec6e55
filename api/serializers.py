"""What the API shows of each object, and the query parameters its lists accept."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalogue import access
from catalogue.models import CatalogueRecord, Collection, ImageFile, ImportBatch
from dedup.models import CandidateGroup, CandidatePair
from review.decisions import MERGE_FIELDS
from review.models import Decision, ReviewItem

# Primary keys are 64-bit; anything larger can name no row.
MAX_ID = 2**63 - 1


def _id_field(**kwargs):
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, **kwargs)


# --- catalogue --------------------------------------------------------------------------------------


class CollectionSerializer(serializers.ModelSerializer):
    image_count = serializers.IntegerField(read_only=True)
    record_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Collection
        fields = [
            "id",
            "name",
            "institution",
            "description",
            "default_rights",
            "default_credit_line",
            "created_at",
            "image_count",
            "record_count",
        ]
        read_only_fields = ["created_at"]


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()
    percent = serializers.IntegerField()
    rate = serializers.FloatField(help_text=_("images fingerprinted per second over the last two minutes"))
    eta_seconds = serializers.IntegerField(allow_null=True)


class CollectionDetailSerializer(CollectionSerializer):
    policy = serializers.JSONField(read_only=True, help_text=_("the deduplication policy in force"))
    progress = ProgressSerializer(read_only=True)

    class Meta(CollectionSerializer.Meta):
        fields = [*CollectionSerializer.Meta.fields, "policy", "progress"]


class ImageSerializer(serializers.ModelSerializer):
    original_url = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = ImageFile
        fields = [
            "id",
            "record",
            "collection",
            "import_batch",
            "original_filename",
            "source_path",
            "size",
            "sha256",
            "format",
            "width",
            "height",
            "mode",
            "icc_profile",
            "state",
            "last_error",
            "created_at",
            "original_url",
            "preview_url",
            "thumbnail_url",
        ]

    def get_original_url(self, image) -> str:
        return reverse("api-image-original", args=[image.pk])

    def get_preview_url(self, image) -> str:
        return reverse("api-image-preview", args=[image.pk])

    def get_thumbnail_url(self, image) -> str:
        return reverse("api-image-thumbnail", args=[image.pk])


class RecordSerializer(serializers.ModelSerializer):
    """A record as its reader may see it: a master or source in a collection hidden from the reader
    (catalogue.access) is null, not its id, so a restricted record is not even counted through an open
    one; status still says superseded."""

    master = serializers.SerializerMethodField(
        help_text=_("the record that superseded this one; null if none, or if its collection is hidden")
    )
    metadata = serializers.SerializerMethodField(
        help_text=_("other metadata; merged_fields name their source record unless it is hidden")
    )
    resolves_to = serializers.SerializerMethodField(
        help_text=_(
            "the record this catalogue number resolves to (itself, or its master); null if the master's "
            "collection is hidden"
        )
    )

    class Meta:
        model = CatalogueRecord
        fields = [
            "id",
            "collection",
            "catalogue_number",
            "title",
            "creator",
            "date_text",
            "rights",
            "credit_line",
            "source",
            "metadata",
            "status",
            "master",
            "resolves_to",
            "created_at",
            "updated_at",
        ]

    @property
    def _reader(self):
        return self.context["request"].user

    def get_master(self, record) -> int | None:
        master = access.shown(self._reader, record.master)
        return master.pk if master else None

    @extend_schema_field(serializers.JSONField())
    def get_metadata(self, record):
        return access.shown_metadata(self._reader, record.metadata)

    def get_resolves_to(self, record) -> int | None:
        if not record.master_id:
            return record.pk
        resolved = access.shown(self._reader, record.resolve())
        return resolved.pk if resolved else None


class RecordDetailSerializer(RecordSerializer):
    images = ImageSerializer(many=True, read_only=True)
    superseded_records = serializers.SerializerMethodField()
    related_records = serializers.SerializerMethodField()

    class Meta(RecordSerializer.Meta):
        fields = [*RecordSerializer.Meta.fields, "images", "superseded_records", "related_records"]

    def get_superseded_records(self, record) -> list[int]:
        records = access.only_visible(record.superseded_records.all(), self._reader)
        return list(records.order_by("pk").values_list("pk", flat=True))

    def get_related_records(self, record) -> list[int]:
        records = access.only_visible(record.related_records(), self._reader)
        return list(records.order_by("pk").values_list("pk", flat=True))


class ImportSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "collection",
            "source",
            "root",
            "created_by",
            "started_at",
            "finished_at",
            "stored",
            "skipped",
            "rejected",
            "manifest_name",
            "manifest_messages",
        ]


class ImportProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    ready = serializers.IntegerField()
    pending = serializers.IntegerField()
    failed = serializers.IntegerField()


class ImportResultSerializer(serializers.Serializer):
    path = serializers.CharField()
    status = serializers.CharField()
    message = serializers.CharField(allow_blank=True)


class ImportDetailSerializer(ImportSerializer):
    finished = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField(
        help_text=_("fingerprinting of this import's stored images: done when pending is 0")
    )
    results = serializers.SerializerMethodField(help_text=_("one entry per file (command imports: problems)"))

    class Meta(ImportSerializer.Meta):
        fields = [*ImportSerializer.Meta.fields, "finished", "progress", "results"]

    def get_finished(self, batch) -> bool:
        return batch.finished_at is not None

    @extend_schema_field(ImportProgressSerializer)
    def get_progress(self, batch):
        states = dict.fromkeys(ImageFile.State.values, 0)
        for state in batch.images.values_list("state", flat=True):
            states[state] += 1
        return {
            "total": sum(states.values()),
            "ready": states[ImageFile.State.READY],
            "pending": states[ImageFile.State.PENDING],
            "failed": states[ImageFile.State.FAILED],
        }

    @extend_schema_field(ImportResultSerializer(many=True))
    def get_results(self, batch):
        status = self.context.get("result_status")
        return [r for r in batch.results if r.get("status") == status] if status else batch.results


# --- pairs, groups, decisions -----------------------------------------------------------------------


class PairImageSerializer(serializers.ModelSerializer):
    catalogue_number = serializers.CharField(source="record.catalogue_number", read_only=True)

    class Meta:
        model = ImageFile
        fields = [
            "id",
            "record",
            "catalogue_number",
            "collection",
            "source_path",
            "width",
            "height",
            "format",
        ]


class ReviewItemSerializer(serializers.ModelSerializer):
    leased_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReviewItem
        fields = ["id", "status", "leased_by", "lease_expires_at", "decision"]


class OpenProblemSerializer(serializers.Serializer):
    error = serializers.CharField()
    at = serializers.DateTimeField()
    attempts = serializers.IntegerField()


class PairSerializer(serializers.ModelSerializer):
    image_a = PairImageSerializer(read_only=True)
    image_b = PairImageSerializer(read_only=True)
    relations = serializers.SerializerMethodField(help_text=_("the relation's labels"))
    review_item = serializers.SerializerMethodField()
    open_problem = serializers.SerializerMethodField(
        help_text=_("an original storage could not open: why, when last, and the attempts so far (or null)")
    )

    class Meta:
        model = CandidatePair
        fields = [
            "id",
            "image_a",
            "image_b",
            "tier",
            "tier_reason",
            "relation",
            "relations",
            "relation_params",
            "explanation",
            "score",
            "phash_distance",
            "dhash_distance",
            "orientation_distance",
            "border_distance",
            "crop_distance",
            "same_bytes",
            "verified",
            "inferred",
            "open_problem",
            "group",
            "review_item",
            "created_at",
        ]

    def get_relations(self, pair) -> list[str]:
        return [label for label in pair.relation.split("+") if label]

    @extend_schema_field(OpenProblemSerializer(allow_null=True))
    def get_open_problem(self, pair):
        if not pair.open_error:
            return None
        return OpenProblemSerializer(
            {"error": pair.open_error, "at": pair.open_error_at, "attempts": pair.open_attempts}
        ).data

    @extend_schema_field(ReviewItemSerializer(allow_null=True))
    def get_review_item(self, pair):
        try:
            item = pair.review_item
        except ReviewItem.DoesNotExist:
            return None
        return ReviewItemSerializer(item).data


class GroupSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()
    pairs = serializers.SerializerMethodField()

    class Meta:
        model = CandidateGroup
        fields = ["id", "master", "members", "pairs", "created_at"]

    def get_members(self, group) -> list[int]:
        return sorted(member.pk for member in group.members.all())

    def get_pairs(self, group) -> list[int]:
        return sorted(pair.pk for pair in group.pairs.all())


class DecisionSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Decision
        fields = [
            "id",
            "pair",
            "kind",
            "master",
            "superseded",
            "actor",
            "automatic",
            "flagged",
            "pending",
            "approves",
            "reason",
            "comment",
            "evidence",
            "before",
            "after",
            "effects",
            "corrects",
            "created_at",
            "sequence",
            "hash",
        ]


class DecisionCreateSerializer(serializers.Serializer):
    """A decision on a review-tier pair, as the review screen's buttons make it."""

    KINDS = [
        Decision.Kind.DUPLICATE,
        Decision.Kind.RELATED,
        Decision.Kind.DISTINCT,
        Decision.Kind.SKIP,
        Decision.Kind.ESCALATE,
    ]

    pair = serializers.PrimaryKeyRelatedField(
        queryset=CandidatePair.objects.select_related("image_a__record", "image_b__record")
    )
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in KINDS])
    master_side = serializers.ChoiceField(
        choices=[("left", _("left (image_a)")), ("right", _("right (image_b)"))],
        required=False,
        allow_null=True,
        help_text=_("for duplicate: which image's record stays the master"),
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    merge = serializers.ListField(
        child=serializers.ChoiceField(choices=MERGE_FIELDS),
        required=False,
        default=list,
        help_text=_("for duplicate: fields the superseded record gives to the master"),
    )

    def validate(self, data):
        duplicate = data["kind"] == Decision.Kind.DUPLICATE
        if duplicate and not data.get("master_side"):
            raise serializers.ValidationError(
                {"master_side": _("A duplicate decision says which side stays the master.")}
            )
        if not duplicate and (data.get("master_side") or data.get("merge")):
            raise serializers.ValidationError(
                _("Only a duplicate decision takes a master side and fields to merge.")
            )
        return data


class DecisionCreatedSerializer(DecisionSerializer):
    applied = serializers.SerializerMethodField(
        help_text=_(
            "false when the decision changed nothing yet: it contradicts earlier ones and went to a "
            "supervisor (flagged), or a two-person rule holds it for a supervisor's approval (pending)"
        )
    )

    class Meta(DecisionSerializer.Meta):
        fields = [*DecisionSerializer.Meta.fields, "applied"]

    def get_applied(self, decision) -> bool:
        return not (decision.flagged or decision.pending)


# --- query parameters -------------------------------------------------------------------------------


class RecordQuery(serializers.Serializer):
    collection = _id_field()
    status = serializers.ChoiceField(choices=CatalogueRecord.Status.choices, required=False)
    catalogue_number = serializers.CharField(
        required=False, max_length=300, help_text=_("exact catalogue number (old numbers included)")
    )
    q = serializers.CharField(
        required=False, max_length=200, help_text=_("in catalogue number, title or creator")
    )


class ImageQuery(serializers.Serializer):
    collection = _id_field()
    record = _id_field()
    state = serializers.ChoiceField(choices=ImageFile.State.choices, required=False)
    sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False)


class ImportQuery(serializers.Serializer):
    collection = _id_field()
    source = serializers.ChoiceField(choices=ImportBatch.Source.choices, required=False)


class ImportResultQuery(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[("stored", "stored"), ("skipped", "skipped"), ("rejected", "rejected")],
        required=False,
        help_text=_("only the files with this result"),
    )


class PairQuery(serializers.Serializer):
    collection = _id_field(help_text=_("either image in this collection"))
    tier = serializers.ChoiceField(choices=CandidatePair.Tier.choices, required=False)
    relation = serializers.CharField(
        required=False, max_length=200, help_text=_("a relation label (resized) or a whole relation")
    )
    status = serializers.ChoiceField(
        choices=ReviewItem.Status.choices, required=False, help_text=_("the pair's review item status")
    )
    group = _id_field()
    image = _id_field(help_text=_("either image of the pair"))
    min_score = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_score = serializers.FloatField(required=False, min_value=0, max_value=1)


class GroupQuery(serializers.Serializer):
    collection = _id_field(help_text=_("the proposed master's collection"))


class DecisionQuery(serializers.Serializer):
    pair = _id_field()
    collection = _id_field()
    kind = serializers.ChoiceField(choices=Decision.Kind.choices, required=False)
    flagged = serializers.BooleanField(required=False, allow_null=True, default=None)
    pending = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("decisions proposed under two-person rules (approved, declined or waiting)"),
    )
    actor = serializers.CharField(
        required=False, max_length=150, help_text=_("username (supervisors; others see their own only)")
    )


class TableExportQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=[("csv", "CSV"), ("json", "JSON")], required=False)
    collection = _id_field()


class PremisExportQuery(serializers.Serializer):
    cataloguer = serializers.CharField(
        required=False, max_length=150, help_text=_('a user id, or "system" for automatic decisions')
    )
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    collection = _id_field()
    kind = serializers.ChoiceField(choices=Decision.Kind.choices, required=False)
    relation = serializers.CharField(required=False, max_length=200)
    band = serializers.ChoiceField(choices=["high", "good", "fair", "weak"], required=False)
    flagged = serializers.BooleanField(required=False)


class ApprovalSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
