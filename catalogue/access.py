"""Who sees which collection. A collection restricted to groups is seen only by those groups' members
(and superusers); the others see every collection, given a role. Everything that shows a collection's
records, images, files, pairs or decisions filters through here, and a collection one may not see is a
404 (not a 403: its existence is not confirmed either)."""

from django.db.models import Q
from django.http import Http404

from .models import CatalogueRecord, Collection

_CACHE = "_mastercopy_visible_collections"
# Where a pair's collections are, and a decision's (through its pair): both sides must be visible.
PAIR_COLLECTIONS = ("image_a__collection", "image_b__collection")
DECISION_COLLECTIONS = tuple(f"pair__{field}" for field in PAIR_COLLECTIONS)


def visible_ids(user):
    """The ids of the collections user may see, or None for all of them (no restriction applies)."""
    if not hasattr(user, _CACHE):
        if user.is_superuser or not Collection.restricted_to.through.objects.exists():
            ids = None
        else:
            ids = frozenset(
                Collection.objects.filter(
                    Q(restricted_to__isnull=True) | Q(restricted_to__in=user.groups.all())
                ).values_list("pk", flat=True)
            )
        setattr(user, _CACHE, ids)  # per request: request.user is a new object every request
    return getattr(user, _CACHE)


def within(queryset, ids, *fields):
    """queryset restricted to rows whose collection (each of fields: "collection", "pair__image_a__
    collection", ...) is among ids; None (no restriction) leaves it whole."""
    if ids is None:
        return queryset
    for field in fields or ("collection",):
        queryset = queryset.filter(**{f"{field}__in": ids})
    return queryset


def only_visible(queryset, user, *fields):
    """queryset restricted to rows whose collection (each of fields) user may see."""
    return within(queryset, visible_ids(user), *fields)


def visible_collections(user):
    return only_visible(Collection.objects.all(), user, "pk")


def may_see(user, *collection_ids):
    ids = visible_ids(user)
    return ids is None or all(pk in ids for pk in collection_ids)


def require(user, *collection_ids):
    if not may_see(user, *collection_ids):
        raise Http404


def require_pair(user, pair):
    """Both images' collections of a candidate pair."""
    require(user, pair.image_a.collection_id, pair.image_b.collection_id)


def shown(user, record):
    """record, or None when its collection is hidden from user: for an open record's links to others
    (its master, what it resolves to), which must not name a hidden record, not even by its id."""
    return record if record is not None and may_see(user, record.collection_id) else None


def shown_metadata(user, metadata):
    """A record's metadata with the source of each merged value (merged_fields: from_record,
    from_number) blanked where the record it came from is in a collection hidden from user."""
    merges = (metadata or {}).get("merged_fields")
    if not merges or visible_ids(user) is None:
        return metadata
    sources = {merge.get("from_record") for merge in merges.values() if isinstance(merge, dict)}
    sources = only_visible(CatalogueRecord.objects.filter(pk__in=sources - {None}), user)
    seen = set(sources.values_list("pk", flat=True))
    cleaned = {
        name: (
            merge
            if not isinstance(merge, dict) or merge.get("from_record") in seen
            else {**merge, "from_record": None, "from_number": ""}
        )
        for name, merge in merges.items()
    }
    return {**metadata, "merged_fields": cleaned}
