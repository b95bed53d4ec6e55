from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _settle(sender, pair, master_image, reason, **kwargs):
    from .services import settle_or_queue

    settle_or_queue(pair, master_image, reason)


def _queue(sender, pair, **kwargs):
    from .services import queue_pair

    queue_pair(pair)


def _repair_queue(sender, **kwargs):
    import logging

    from .services import sync_queue

    repaired = sync_queue()
    if repaired:
        logging.getLogger(__name__).warning("queue repair: %d review-tier pairs had no queue item", repaired)


def _settle_verified(sender, entries, **kwargs):
    from .exact import settle_verified

    settle_verified(entries)


def _suspend_on_rejection_many(sender, decisions, **kwargs):
    from .calibration import suspend_on_rejection

    for decision in decisions:
        suspend_on_rejection(decision)


def _suspend_on_rejection(sender, instance, created, **kwargs):
    if created:
        from .calibration import suspend_on_rejection

        suspend_on_rejection(instance)


def _count(sender, instance, created, **kwargs):
    if created:
        from .summaries import after_record

        after_record(instance)  # the supervisor pages' counts, in the decision's transaction


def _count_many(sender, decisions, **kwargs):
    from .summaries import after_record_many

    after_record_many(decisions)


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = _("Review")

    def ready(self):
        from dedup.events import pair_for_review, pair_settled, pairs_verified, pending_resumed

        pair_settled.connect(_settle, dispatch_uid="review-settle-certain-pairs")
        pairs_verified.connect(_settle_verified, dispatch_uid="review-settle-verified-pairs")
        pair_for_review.connect(_queue, dispatch_uid="review-queue-review-tier-pairs")
        pending_resumed.connect(_repair_queue, dispatch_uid="review-repair-queue")
        from django.db.models.signals import post_save

        from .models import Decision, decisions_recorded

        post_save.connect(_suspend_on_rejection, sender=Decision, dispatch_uid="review-suspend-auto")
        decisions_recorded.connect(
            _suspend_on_rejection_many, sender=Decision, dispatch_uid="review-suspend-auto-many"
        )
        # review.summaries keeps its counts from these receivers (it reads review.models, which then
        # need not import it back: no import circle).
        post_save.connect(_count, sender=Decision, dispatch_uid="review-summaries")
        decisions_recorded.connect(_count_many, sender=Decision, dispatch_uid="review-summaries-many")
