"""API tokens (django-rest-knox): only a SHA-512 digest is stored, each token expires
(settings.REST_KNOX TOKEN_TTL), and a user's tokens are revoked when their password changes or the
account is deactivated (below; a deleted user's go with it). A user may hold several tokens, one per
client; each request for a token makes a new one."""

from django.conf import settings
from django.db.models.signals import post_save, pre_save
from knox.models import AuthToken


def issue(user):
    """(token string, expiry) for a new token; the string is shown once and never stored."""
    instance, token = AuthToken.objects.create(user)
    return token, instance.expiry


def revoke_all(user):
    return AuthToken.objects.filter(user=user).delete()[0]


def _note_credential_change(sender, instance, update_fields=None, **kwargs):
    instance._revoke_api_tokens = False
    if instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # a save of other fields only (the last_login of every sign-in)
    stored = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is None:
        return
    # Any change of the stored hash counts, including a hasher upgrade at sign-in: revoking too often
    # costs a client a new token; too rarely, a stolen token outliving the password it came with.
    instance._revoke_api_tokens = stored["password"] != instance.password or (
        stored["is_active"] and not instance.is_active
    )


def _revoke_on_credential_change(sender, instance, **kwargs):
    if getattr(instance, "_revoke_api_tokens", False):
        revoke_all(instance)
        instance._revoke_api_tokens = False


def connect():
    pre_save.connect(_note_credential_change, sender=settings.AUTH_USER_MODEL, dispatch_uid="api-tokens-note")
    post_save.connect(
        _revoke_on_credential_change, sender=settings.AUTH_USER_MODEL, dispatch_uid="api-tokens-revoke"
    )
