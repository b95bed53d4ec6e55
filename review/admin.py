from django.contrib import admin

from catalogue import access
from catalogue.admin import ReadOnly

from .models import Decision, ReviewItem


@admin.register(Decision)
class DecisionAdmin(ReadOnly):
    """Read-only: decisions are an append-only audit log, corrected only by new decisions. Those on a
    pair in a collection the user may not see are not listed (catalogue.admin.Visible)."""

    list_display = ("created_at", "kind", "actor", "automatic", "flagged", "pair", "master", "superseded")
    list_filter = ("kind", "automatic", "flagged")
    search_fields = ("reason", "comment")
    raw_id_fields = ("pair", "master", "superseded", "actor", "corrects")
    collection_fields = access.DECISION_COLLECTIONS


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnly):
    """Read-only: an item's status and lease change only through the queue (review.services)."""

    list_display = ("pair", "status", "relation", "score", "priority", "leased_by", "lease_expires_at")
    list_filter = ("status",)
    raw_id_fields = ("pair", "leased_by", "skipped_by", "decision", "collection")
    collection_fields = tuple(f"pair__{field}" for field in access.PAIR_COLLECTIONS)
