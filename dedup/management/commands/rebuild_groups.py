import time

from django.core.management.base import BaseCommand

from dedup.grouping import rebuild_groups


class Command(BaseCommand):
    help = (
        "Recompute every candidate group from every pair (a repair step, e.g. once after upgrading: each "
        "verify batch regroups only the components it touches). Groups that come out the same keep their "
        "ids, so review items keep their place in a group."
    )

    def handle(self, *args, **options):
        started = time.perf_counter()
        counts = rebuild_groups()
        self.stdout.write(
            f"Regrouped {counts['pairs read']} pairs on {counts['images']} images in "
            f"{time.perf_counter() - started:.1f} s: {counts['groups']} groups "
            f"({counts['groups created']} new, {counts['groups removed']} removed), "
            f"{counts['pairs regrouped']} pairs moved to another group."
        )
