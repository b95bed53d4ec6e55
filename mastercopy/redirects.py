"""Going back where a form came from, safely."""

from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def redirect_back(request, fallback):
    """To the form's "next" URL if it stays on this site, else to fallback (a URL or a URL name):
    a "next" pointing elsewhere is never followed (no open redirect)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(fallback)
