"""Django admin, for the corrections no page offers (a record's title, a collection's description).

It holds to the application's rules rather than going around them:
- users and groups are managed by superusers only (CatalogueAdminSite below): the user form sets
  is_superuser, is_staff, permissions and groups, so whoever may change users may make themselves
  anything; an Administrator's role stops below that (catalogue.roles);
- a collection one may not see (catalogue.access) is absent from every list, filter and form here, and
  its rows' pages are missing, as on the pages;
- what decisions own (a record's status and master: supersession) and what an import recorded (files,
  checksums, results) is read-only: those change only through a recorded Decision or import;
- nothing is deleted, by anyone, superuser included: archives do not delete (a duplicate is superseded,
  never removed), so every delete permission and the "delete selected" action are off.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import BooleanField, ExpressionWrapper, Q, Value
from django.utils.translation import gettext_lazy as _

from . import access
from .models import CatalogueRecord, Collection, ImageFile, ImportBatch, Profile

admin.site.disable_action("delete_selected")


class NoDeletion:
    """Archives do not delete: not through admin, not by a superuser."""

    def has_delete_permission(self, request, obj=None):
        return False


class SuperusersOnly:
    """Accounts and groups decide who may do everything else: a superuser's business alone, whatever
    permissions a group was given. Nobody deletes them either: a user's decisions keep naming them
    (deactivate instead), and deleting a group would open the collections restricted to it to all."""

    def _superuser(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return self._superuser(request)

    def has_view_permission(self, request, obj=None):
        return self._superuser(request)

    def has_add_permission(self, request):
        return self._superuser(request)

    def has_change_permission(self, request, obj=None):
        return self._superuser(request)

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AccountAdmin(SuperusersOnly, UserAdmin):
    pass


@admin.register(Group)
class RoleGroupAdmin(SuperusersOnly, GroupAdmin):
    pass


class Visible(NoDeletion, admin.ModelAdmin):
    """Rows whose collection (each of collection_fields) the user may not see are not there."""

    collection_fields = ("collection",)

    def get_queryset(self, request):
        return access.only_visible(super().get_queryset(request), request.user, *self.collection_fields)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Collection:
            kwargs["queryset"] = access.visible_collections(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnly(Visible):
    """A row written by the application (an import, a stored file), shown and never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Only the collections present in the (already restricted) list: a hidden collection's name is not
# offered as a filter either.
VISIBLE_COLLECTIONS = ("collection", admin.RelatedOnlyFieldListFilter)


@admin.register(Collection)
class CollectionAdmin(Visible):
    list_display = ["name", "institution", "created_at"]
    search_fields = ["name", "institution"]
    filter_horizontal = ["restricted_to"]
    collection_fields = ("pk",)
    # The policy changes on the policy page and through calibration, each change recorded (PolicyChange).
    readonly_fields = ["policy", "created_by", "created_at"]


class ImageFileInline(admin.TabularInline):
    model = ImageFile
    extra = 0
    fields = ["source_path", "format", "width", "height", "size", "state"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RecordForm(forms.ModelForm):
    class Meta:
        model = CatalogueRecord
        fields = ["title", "creator", "date_text", "rights", "credit_line", "source", "metadata"]

    def clean_metadata(self):
        """Other metadata is editable, but merged_fields is the provenance decisions wrote (which value
        came from which superseded record): kept as the decisions left it, whatever was posted."""
        metadata = self.cleaned_data.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        metadata.pop("merged_fields", None)
        recorded = (self.instance.metadata or {}).get("merged_fields")
        if recorded is not None:
            metadata["merged_fields"] = recorded
        return metadata


@admin.register(CatalogueRecord)
class CatalogueRecordAdmin(Visible):
    form = RecordForm
    list_display = ["catalogue_number", "title", "collection", "status", "master_record"]
    list_filter = [VISIBLE_COLLECTIONS, "status"]
    search_fields = ["catalogue_number", "title", "creator"]
    fields = [
        "collection",
        "catalogue_number",
        "status",
        "master_record",
        "title",
        "creator",
        "date_text",
        "rights",
        "credit_line",
        "source",
        "metadata",
    ]
    # status and master belong to decisions (review.services), which record who, when and why; the
    # number is what others cite and keeps resolving; the collection decides who may see the record.
    readonly_fields = ["collection", "catalogue_number", "status", "master_record"]
    inlines = [ImageFileInline]

    def has_add_permission(self, request):
        return False  # records come from imports, with their files and provenance

    @admin.display(description=_("master"))
    def master_record(self, record):
        """The master, unless its collection is hidden from this user (then only that there is one)."""
        if record.master_id is None:
            return "—"
        if not record.master_visible:
            return _("a record in a collection you cannot see")
        return str(record.master)

    def get_queryset(self, request):
        # Whether the master may be shown is worked out here, where the user is known: master_record
        # is called with the row alone.
        ids = access.visible_ids(request.user)
        visible = Value(True) if ids is None else Q(master__collection__in=ids)
        return (
            super()
            .get_queryset(request)
            .select_related("collection", "master")
            .annotate(master_visible=ExpressionWrapper(visible, output_field=BooleanField()))
        )


@admin.register(ImageFile)
class ImageFileAdmin(ReadOnly):
    list_display = ["source_path", "collection", "format", "width", "height", "state"]
    list_filter = [VISIBLE_COLLECTIONS, "state", "format"]
    search_fields = ["source_path", "sha256"]
    readonly_fields = ["storage_key", "sha256", "size"]


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnly):
    list_display = ["pk", "collection", "source", "stored", "skipped", "rejected", "started_at"]
    list_filter = [VISIBLE_COLLECTIONS, "source"]
    readonly_fields = ["results", "manifest_messages"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "language"]
