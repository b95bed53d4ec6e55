from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalogue.models import Collection, ImageFile
from dedup.fingerprinting import batches, ensure_fingerprints, pending_ids


class Command(BaseCommand):
    help = "Run all pending fingerprinting (and pair search) in the foreground, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--collection", help="only this collection's pending images")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        collection = None
        if options["collection"]:
            try:
                collection = Collection.objects.get(name=options["collection"])
            except Collection.DoesNotExist:
                raise CommandError(f"no collection named {options['collection']}")
        ids = pending_ids(collection)
        done = failed = 0
        with tqdm(
            total=len(ids), unit="img", desc="fingerprints", disable=options["no_progress"], file=self.stderr
        ) as bar:
            for chunk in batches(ids):
                d, f = ensure_fingerprints(chunk, on_progress=bar.update)
                done, failed = done + d, failed + f
        self.stdout.write(f"Fingerprinted {done} images; {failed} failed.")
        scope = ImageFile.objects.filter(collection=collection) if collection else ImageFile.objects.all()
        for image in scope.filter(state=ImageFile.State.FAILED).order_by("source_path")[:50]:
            self.stdout.write(self.style.ERROR(f"failed {image.source_path}: {image.last_error}"))
