"""The three roles, as Django groups with permissions, and the view guard that checks them."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied

ADMINISTRATOR = "Administrator"
CATALOGUER = "Cataloguer"
SUPERVISOR = "Supervisor"

IMPORT = "catalogue.import_images"
REVIEW = "catalogue.review_pairs"
SUPERVISE = "catalogue.supervise"
VIEW = "catalogue.view_collection"

_VIEW_CATALOGUE = [
    "catalogue.view_collection",
    "catalogue.view_cataloguerecord",
    "catalogue.view_imagefile",
    "catalogue.view_importbatch",
]
ROLE_PERMISSIONS = {
    ADMINISTRATOR: _VIEW_CATALOGUE
    + [
        IMPORT,
        "catalogue.add_collection",
        "catalogue.change_collection",
        "catalogue.change_cataloguerecord",
        # No auth.* permission: whoever may change users may make themselves superuser (the user form
        # sets is_superuser, groups and permissions). Accounts are a superuser's (catalogue.admin).
    ],
    CATALOGUER: _VIEW_CATALOGUE + [REVIEW],
    SUPERVISOR: _VIEW_CATALOGUE + [REVIEW, SUPERVISE],
}


def ensure_roles():
    """Create or update the role groups; safe to run any number of times."""
    for name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)


def permission_required(perm):
    """login_required, then 403 (not a login loop) for a signed-in user without the permission."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
