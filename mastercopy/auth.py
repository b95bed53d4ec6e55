"""Login with a failure limit per account and per address, so passwords cannot be guessed at speed."""

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.utils.translation import gettext as _


def _keys(request):
    username = request.POST.get("username", "").strip().lower()
    address = request.META.get("REMOTE_ADDR", "")
    digest = hashlib.sha256(username.encode()).hexdigest()[:32]
    return [f"login-fail:user:{digest}", f"login-fail:addr:{address}"]


class LoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        limit = settings.MASTERCOPY_LOGIN_FAILURES
        if any((cache.get(key) or 0) >= limit for key in _keys(request)):
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                _("Too many failed attempts. Wait %(minutes)d minutes and try again.")
                % {"minutes": settings.MASTERCOPY_LOGIN_LOCKOUT_SECONDS // 60},
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        for key in _keys(self.request):
            cache.add(key, 0, settings.MASTERCOPY_LOGIN_LOCKOUT_SECONDS)
            cache.incr(key)
        return super().form_invalid(form)

    def form_valid(self, form):
        cache.delete_many(_keys(self.request)[:1])
        return super().form_valid(form)
