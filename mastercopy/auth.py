"""Login with failure limits, so passwords cannot be guessed at speed.

The limits sit in the authentication backend (LimitedModelBackend), the one place every way of
presenting a password passes through: the login page, /admin/login/, the API's token endpoint
(api.views.ObtainToken) and anything added later that calls django.contrib.auth.authenticate(). Two
counters, counted separately: failures per account (a few, so one account cannot be guessed at) and
failures per client address (more, so one address cannot try many accounts). The address is the peer's,
or, only when the peer is a trusted proxy (MASTERCOPY_TRUSTED_PROXIES), the one that proxy forwarded.
The counters live in Django's cache: in production a Redis cache (CACHE_URL), which every web process
shares; the default per-process cache would let each gunicorn worker count on its own."""

import hashlib
import ipaddress
from functools import lru_cache, wraps

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.utils.translation import gettext as _


@lru_cache(maxsize=8)
def _networks(entries):
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(value):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_address(request):
    """The client's address: the peer's (REMOTE_ADDR), unless the peer is a trusted proxy; then walk
    X-Forwarded-For from the right (each trusted proxy appends the address it saw) to the first hop that
    is not a trusted proxy. A header from anyone else is ignored, so it cannot be forged to dodge the
    per-address limit or to lock someone else's address."""
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = _networks(tuple(settings.MASTERCOPY_TRUSTED_PROXIES))
    if not trusted:
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    current = _address(remote)
    while current is not None and any(current in network for network in trusted) and hops:
        forwarded = _address(hops.pop())
        if forwarded is None:
            break
        current = forwarded
    return str(current) if current is not None else remote


def failure_keys(username, address):
    """[account key, address key]; no address key when there is no request (a management command)."""
    digest = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    keys = [f"login-fail:user:{digest}"]
    return keys + [f"login-fail:addr:{address}"] if address else keys


def request_keys(request, username):
    return failure_keys(username, client_address(request))


def _limits():
    return (settings.MASTERCOPY_LOGIN_FAILURES, settings.MASTERCOPY_LOGIN_ADDRESS_FAILURES)


def locked_out(keys):
    counts = cache.get_many(keys)
    return any((counts.get(key) or 0) >= limit for key, limit in zip(keys, _limits(), strict=False))


def lockout_message():
    return _("Too many failed attempts. Wait %(minutes)d minutes and try again.") % {
        "minutes": settings.MASTERCOPY_LOGIN_LOCKOUT_SECONDS // 60
    }


def record_failure(keys):
    for key in keys:
        # add() starts the window; incr() is atomic on Redis, so concurrent failures all count.
        cache.add(key, 0, settings.MASTERCOPY_LOGIN_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.add(key, 1, settings.MASTERCOPY_LOGIN_LOCKOUT_SECONDS)


def record_success(keys):
    # Only the account's counter: a success must not wipe the address's record of other accounts' failures.
    cache.delete_many(keys[:1])


class LimitedModelBackend(ModelBackend):
    """ModelBackend with the failure limits: a locked-out account or address is refused before the
    password is even checked (PermissionDenied ends authenticate() for every backend)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field())
        keys = request_keys(request, username)
        if locked_out(keys):
            raise PermissionDenied(lockout_message())
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(keys)
        else:
            record_success(keys)
        return user

    @staticmethod
    def _username_field():
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD


class LimitedLoginMixin:
    """For login views: a locked-out request is told so, with 429, instead of 'wrong password'."""

    def post(self, request, *args, **kwargs):
        if locked_out(request_keys(request, request.POST.get("username", ""))):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, lockout_message())
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


class LoginView(LimitedLoginMixin, auth_views.LoginView):
    pass


def limited_login(view):
    """Wrap another login view (Django admin's, in mastercopy.urls) the same way: the backend already
    refuses a locked-out request; this says so with 429 rather than "wrong password"."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method == "POST" and locked_out(request_keys(request, request.POST.get("username", ""))):
            return HttpResponse(lockout_message(), status=429, content_type="text/plain; charset=utf-8")
        return view(request, *args, **kwargs)

    return wrapped
