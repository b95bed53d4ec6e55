from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _create_roles(sender, **kwargs):
    from .roles import ensure_roles

    ensure_roles()


class CatalogueConfig(AppConfig):
    name = "catalogue"
    verbose_name = _("Catalogue")

    def ready(self):
        # After every migrate, so permissions exist and a fresh or test database always has the roles.
        post_migrate.connect(_create_roles, sender=self)
