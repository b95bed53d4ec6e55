"""Who sees which collection. A collection restricted to groups is seen only by those groups' members
(and superusers); the others see every collection, given a role. Everything that shows a collection's
records, images, files, pairs or decisions filters through here, and a collection one may not see is a
404 (not a 403: its existence is not confirmed either)."""

from django.db.models import Q
from django.http import Http404

from .models import Collection

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
