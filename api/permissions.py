"""The pages' role checks (catalogue.roles) for the API: 401 without credentials, 403 without the role."""

from rest_framework.permissions import BasePermission

from catalogue.roles import IMPORT, REVIEW, SUPERVISE, VIEW


def _role(perm):
    class HasRole(BasePermission):
        def has_permission(self, request, view):
            return bool(request.user and request.user.is_authenticated and request.user.has_perm(perm))

    HasRole.__name__ = HasRole.__qualname__ = f"Has_{perm.split('.')[-1]}"
    return HasRole


CanView = _role(VIEW)
CanImport = _role(IMPORT)
CanReview = _role(REVIEW)
CanSupervise = _role(SUPERVISE)
