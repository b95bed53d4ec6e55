from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _on_images_added(sender, image_ids, **kwargs):
    from .tasks import enqueue_fingerprinting

    enqueue_fingerprinting(image_ids)


class DedupConfig(AppConfig):
    name = "dedup"
    verbose_name = _("Deduplication")

    def ready(self):
        from catalogue.signals import images_added

        images_added.connect(_on_images_added, dispatch_uid="dedup-fingerprint-new-images")
