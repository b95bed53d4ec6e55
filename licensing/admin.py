from django.contrib import admin

from catalogue.admin import VISIBLE_COLLECTIONS, ReadOnly

from .models import Licence


@admin.register(Licence)
class LicenceAdmin(ReadOnly):
    """Read-only: licences come from imports and the API, and what is stored is never changed. A licence
    of a collection the user may not see is not there (catalogue.admin.Visible), nor is its name offered
    as a filter."""

    list_display = ("number", "client", "catalogue_number", "collection", "licensed_on")
    list_filter = (VISIBLE_COLLECTIONS,)
    search_fields = ("number", "client", "catalogue_number")
