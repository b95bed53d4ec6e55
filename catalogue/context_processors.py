from .roles import IMPORT, REVIEW, SUPERVISE


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can_import": user.has_perm(IMPORT),
        "can_review": user.has_perm(REVIEW),
        "can_supervise": user.has_perm(SUPERVISE),
    }
