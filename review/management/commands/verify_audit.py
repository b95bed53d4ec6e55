"""Walk the decisions' hash chain and report the first event that was edited, removed or reordered."""

from django.core.management.base import BaseCommand, CommandError

from review import audit
from review.models import Decision


class Command(BaseCommand):
    help = "Verify the tamper-evident chain of decisions; exit status 1 at the first broken link."

    def add_arguments(self, parser):
        parser.add_argument(
            "--head",
            help="a head hash noted earlier (sequence:hash); fails if that event is no longer in the chain, "
            "which also catches events cut from the end of the log",
        )

    def handle(self, *args, **options):
        seen = []

        def walked():
            for decision in Decision.objects.order_by("sequence", "pk").iterator(chunk_size=2000):
                seen.append(decision.pk)
                yield decision

        for problem in audit.verify(walked(), lambda value: Decision.objects.filter(hash=value).exists()):
            raise CommandError(f"audit chain broken at {problem}", returncode=1)
        checked = len(seen)
        if options["head"]:
            self._check_head(options["head"])
        sequence, value = audit.head(Decision.objects)
        self.stdout.write(f"audit chain intact: {checked} decisions, head {sequence}:{value}")

    def _check_head(self, noted):
        sequence, _, value = noted.partition(":")
        if not Decision.objects.filter(sequence=sequence or None, hash=value).exists():
            raise CommandError(f"the noted head {noted} is no longer in the chain", returncode=1)
