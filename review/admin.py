from django.contrib import admin

from .models import Decision, ReviewItem


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    """Read-only: decisions are an append-only audit log, corrected only by new decisions."""

    list_display = ("created_at", "kind", "actor", "automatic", "flagged", "pair", "master", "superseded")
    list_filter = ("kind", "automatic", "flagged")
    search_fields = ("reason", "comment")
    raw_id_fields = ("pair", "master", "superseded", "actor", "corrects")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = ("pair", "status", "relation", "score", "priority", "leased_by", "lease_expires_at")
    list_filter = ("status",)
    raw_id_fields = ("pair", "group", "leased_by", "skipped_by", "decision", "collection")
