from django.contrib import admin

from .models import CatalogueRecord, Collection, ImageFile, ImportBatch, Profile


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "institution", "created_at"]
    search_fields = ["name", "institution"]
    filter_horizontal = ["restricted_to"]


class ImageFileInline(admin.TabularInline):
    model = ImageFile
    extra = 0
    fields = ["source_path", "format", "width", "height", "size", "state"]
    readonly_fields = fields
    can_delete = False


@admin.register(CatalogueRecord)
class CatalogueRecordAdmin(admin.ModelAdmin):
    list_display = ["catalogue_number", "title", "collection", "status", "master"]
    list_filter = ["collection", "status"]
    search_fields = ["catalogue_number", "title", "creator"]
    raw_id_fields = ["master"]
    inlines = [ImageFileInline]


@admin.register(ImageFile)
class ImageFileAdmin(admin.ModelAdmin):
    list_display = ["source_path", "collection", "format", "width", "height", "state"]
    list_filter = ["collection", "state", "format"]
    search_fields = ["source_path", "sha256"]
    raw_id_fields = ["record", "import_batch"]
    readonly_fields = ["storage_key", "sha256", "size"]


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ["pk", "collection", "source", "stored", "skipped", "rejected", "started_at"]
    list_filter = ["collection", "source"]
    readonly_fields = ["results", "manifest_messages"]


admin.site.register(Profile)
