from django.contrib import admin

from .models import Licence


@admin.register(Licence)
class LicenceAdmin(admin.ModelAdmin):
    """Read-only: licences come from imports and the API, and what is stored is never changed."""

    list_display = ("number", "client", "catalogue_number", "collection", "licensed_on")
    list_filter = ("collection",)
    search_fields = ("number", "client", "catalogue_number")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
