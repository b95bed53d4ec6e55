from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from tqdm import tqdm

from catalogue.models import Collection, ImageFile
from dedup.fingerprinting import batches, ensure_fingerprints, pending_ids
from dedup.models import CandidateGroup, CandidatePair, Fingerprint
from dedup.search import search_images, shard_count, unsearched_ids
from dedup.tasks import regroup
from dedup.verification import unverified, verify_pairs


class Command(BaseCommand):
    help = (
        "Run all pending fingerprinting and pair search in the foreground (the same code the background "
        "tasks run), with progress bars, and return when everything is done."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", help="only this collection's new images (searched against all)")
        parser.add_argument(
            "--rescan",
            action="store_true",
            help="search every image again; pairs already found (and their decisions) are kept as they are",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        collection = self._collection(options["collection"])
        quiet = options["no_progress"]
        self._fingerprint(collection, quiet)
        if options["rescan"]:
            scope = Fingerprint.objects.all()
            if collection:
                scope = scope.filter(image__collection=collection)
            scope.update(searched=False)
        added = self._search(collection, quiet)
        self._verify(quiet)
        regroup()
        tiers = dict(CandidatePair.objects.values_list("tier").annotate(n=Count("id")).order_by())
        self.stdout.write(
            f"Pair search: {added} new candidate pairs. In all: "
            + ", ".join(f"{n} {tier}" for tier, n in sorted(tiers.items()))
            + f"; {CandidateGroup.objects.count()} groups."
        )

    def _collection(self, name):
        if not name:
            return None
        try:
            return Collection.objects.get(name=name)
        except Collection.DoesNotExist:
            raise CommandError(f"no collection named {name}")

    def _fingerprint(self, collection, quiet):
        ids = pending_ids(collection)
        done = failed = 0
        with tqdm(total=len(ids), unit="img", desc="fingerprints", disable=quiet, file=self.stderr) as bar:
            for chunk in batches(ids):
                d, f = ensure_fingerprints(chunk, on_progress=bar.update)
                done, failed = done + d, failed + f
        self.stdout.write(f"Fingerprinted {done} images; {failed} failed.")
        scope = ImageFile.objects.filter(collection=collection) if collection else ImageFile.objects.all()
        for image in scope.filter(state=ImageFile.State.FAILED).order_by("source_path")[:50]:
            self.stdout.write(self.style.ERROR(f"failed {image.source_path}: {image.last_error}"))

    def _search(self, collection, quiet):
        ids = unsearched_ids(collection)
        if not ids:
            return 0
        added = 0
        with tqdm(total=len(ids), unit="img", desc="pair search", disable=quiet, file=self.stderr) as bar:
            for chunk in batches(ids, 1000):
                for shard in range(shard_count()):  # this process holds every shard's index in turn
                    added += search_images(chunk, shard)
                bar.update(len(chunk))
        return added

    def _verify(self, quiet):
        ids = unverified()
        with tqdm(total=len(ids), unit="pair", desc="verification", disable=quiet, file=self.stderr) as bar:
            for chunk in batches(ids, 100):
                verify_pairs(chunk, on_progress=bar.update)
