"""Login with a failure limit per account and per address, so passwords cannot be guessed at speed.

The limit is shared by every way of presenting a password (the login page and the API's token
endpoint, api.views.ObtainToken): both count failures under the same keys."""

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.utils.translation import gettext as _


def failure_keys(username, address):
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:user:{digest}", f"login-fail:addr:{address}"]


def _keys(request):
    return failure_keys(request.POST.get("username", ""), request.META.get("REMOTE_ADDR", ""))


def locked_out(keys):
    limit = settings.MASTERCOPY_LOGIN_FAILURES
    return any((cache.get(key) or 0) >= limit for key in keys)


def lockout_message():
    return _("Too many failed attempts. Wait %(minutes)d minutes and try again.") % {
        "minutes": settings.MASTERCOPY_LOGIN_LOCKOUT_SECONDS // 60
    }


def record_failure(keys):
    for key in keys:
        cache.add(key, 0, settings.MASTERCOPY_LOGIN_LOCKOUT_SECONDS)
        cache.incr(key)


def record_success(keys):
    # Only the account's counter: a success must not wipe the address's record of other accounts' failures.
    cache.delete_many(keys[:1])


class LoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        if locked_out(_keys(request)):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, lockout_message())
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        record_failure(_keys(self.request))
        return super().form_invalid(form)

    def form_valid(self, form):
        record_success(_keys(self.request))
        return super().form_valid(form)
