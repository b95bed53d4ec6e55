"""Walk the decisions' hash chain and report the first event that was edited, removed or reordered."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from review import audit
from review.models import Decision, write_checkpoint


class Command(BaseCommand):
    help = (
        "Verify the tamper-evident chain of decisions (keyed hashes, links, and the checkpoints written "
        "outside the database); exit status 1 at the first broken link."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--head",
            help="a head hash noted earlier (sequence:hash, e.g. from an export); fails if that event is no "
            "longer in the chain",
        )
        parser.add_argument(
            "--checkpoints",
            help="the checkpoint file to check against (default: MASTERCOPY_AUDIT_CHECKPOINTS), e.g. a copy "
            "kept elsewhere",
        )
        parser.add_argument(
            "--checkpoint",
            action="store_true",
            help="once the chain verifies, append its head to the checkpoint file (e.g. from cron, or "
            "before a backup)",
        )

    def handle(self, *args, **options):
        path = options["checkpoints"] or settings.MASTERCOPY_AUDIT_CHECKPOINTS
        checkpoints = audit.read_checkpoints(path) if path else {}
        seen = []

        def walked():
            for decision in Decision.objects.order_by("sequence", "pk").iterator(chunk_size=2000):
                seen.append(decision.pk)
                yield decision

        walk = walked()
        problems = audit.verify(
            walk, lambda value: Decision.objects.filter(hash=value).exists(), checkpoints=checkpoints
        )
        first = next(problems, None)
        # Close the walk now, in this transaction: left to the garbage collector, PostgreSQL's server-side
        # cursor would be closed later, on whatever transaction the connection is in by then.
        problems.close()
        walk.close()
        if first is not None:
            raise CommandError(f"audit chain broken at {first}", returncode=1)
        checked = len(seen)
        if options["head"]:
            self._check_head(options["head"])
        sequence, value = audit.head(Decision.objects)
        self.stdout.write(f"audit chain intact: {checked} decisions, head {sequence}:{value}")
        if checkpoints:
            top = max(checkpoints)
            self.stdout.write(
                f"{sum(map(len, checkpoints.values()))} checkpoints in {path} agree "
                f"(latest: sequence {top}, {max(checkpoints[top].values())})"
            )
        elif checked:
            self.stdout.write(
                f"warning: no checkpoint in {path}: events cut from the end of the log cannot be detected"
            )
        if options["checkpoint"]:
            line = write_checkpoint("verify_audit", path)
            if line:
                self.stdout.write(f"checkpoint written to {path}: {line}")

    def _check_head(self, noted):
        sequence, _, value = noted.partition(":")
        if not Decision.objects.filter(sequence=sequence or None, hash=value).exists():
            raise CommandError(f"the noted head {noted} is no longer in the chain", returncode=1)
