from django.core.management.base import BaseCommand

from review import summaries


class Command(BaseCommand):
    help = (
        "Recount the supervisor pages' counts (figures, charts, calibration) from the decision log: a repair "
        "step (every decision updates them as it is recorded), e.g. after re-verifying decided pairs or "
        "changing TIME_ZONE."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Recounted {summaries.rebuild()} cells from the decision log.")
