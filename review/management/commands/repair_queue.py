from django.core.management.base import BaseCommand

from review.services import sync_queue


class Command(BaseCommand):
    help = (
        "Give every verified review-tier pair without a queue item its item (a repair step: the tier rules "
        "queue pairs as they verify them; resume_pending runs this too)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Queued {sync_queue()} review-tier pairs that had no queue item.")
