import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.db.models import Count
from kombu import pools as kombu_pools
from tqdm import tqdm

from catalogue.models import Collection, ImageFile
from dedup.fingerprinting import batches, ensure_fingerprints, pending_ids
from dedup.grouping import regroup_pairs
from dedup.models import CandidateGroup, CandidatePair, Fingerprint
from dedup.search import search_images, shard_count, unsearched_ids
from dedup.verification import unverified, verify_batches, verify_pairs
from mastercopy.celery import app as celery_app


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
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="processes for fingerprinting and verification (default: one per core)",
        )

    def handle(self, *args, **options):
        collection = self._collection(options["collection"])
        quiet = options["no_progress"]
        self.seconds = {}
        started = time.perf_counter()
        self._fingerprint(collection, quiet, options["workers"])
        self.seconds["fingerprints"] = time.perf_counter() - started
        if options["rescan"]:
            scope = Fingerprint.objects.all()
            if collection:
                scope = scope.filter(image__collection=collection)
            scope.update(searched=False)
        started = time.perf_counter()
        added = self._search(collection, quiet)
        self.seconds["search"] = time.perf_counter() - started
        started = time.perf_counter()
        verified = self._verify(quiet, options["workers"])
        self.seconds["verification"] = time.perf_counter() - started
        started = time.perf_counter()
        regroup_pairs(verified)  # the components these pairs touch, not the whole archive
        self.seconds["groups"] = time.perf_counter() - started
        self.stdout.write("Seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in self.seconds.items()))
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

    def _fingerprint(self, collection, quiet, workers):
        ids = pending_ids(collection)
        done = failed = 0
        with tqdm(total=len(ids), unit="img", desc="fingerprints", disable=quiet, file=self.stderr) as bar:
            if _parallel(workers, len(ids)):
                chunks = list(batches(ids, max(5, min(200, len(ids) // (4 * workers) + 1))))
                for d, f in _in_processes(_fingerprint_chunk, chunks, workers):
                    done, failed = done + d, failed + f
                    bar.update(d + f)
            else:
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

    def _verify(self, quiet, workers):
        """Verify every waiting pair; returns their ids."""
        ids = unverified()  # a cluster's pairs next to each other, so a chunk keeps a picture's copies
        with tqdm(total=len(ids), unit="pair", desc="verification", disable=quiet, file=self.stderr) as bar:
            # Whole clusters per batch: a picture's copies decoded once and inferred through its hub (a
            # cluster cut in two chose a second hub in its second batch, whose pairs it then compared).
            if not _parallel(workers, len(ids)):
                # Clusters of exact copies in large batches (settled in bulk), the others about 100 at a time.
                for chunk in verify_batches(100):
                    verify_pairs(chunk, on_progress=bar.update)
                return ids
            size = max(20, min(200, len(ids) // (2 * workers) + 1))
            chunks = verify_batches(size)
            for done in _in_processes(_verify_chunk, chunks, workers):
                bar.update(done)
        return ids


def _parallel(workers, n):
    """Processes only where they can help and can see the data: not inside an open transaction (a test's),
    whose rows other connections cannot read."""
    return workers > 1 and n > 1 and not connection.in_atomic_block


def _in_processes(function, chunks, workers):
    """function(chunk) for every chunk in forked worker processes (each with its own database connection);
    yields the results as they come."""
    connections.close_all()  # a connection must not be shared with the children
    # Nor a broker connection: kombu's after-fork cleanup in a child closes the pooled ones it inherited,
    # and reading from a socket the parent shares hung it (seen after a publish in the same process).
    kombu_pools.reset()  # closes every pooled broker connection and forgets the pools
    celery_app._after_fork()  # so the app makes a fresh pool when it next publishes, as in a forked child
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for future in as_completed([pool.submit(function, chunk) for chunk in chunks]):
            yield future.result()


def _verify_chunk(ids):
    verify_pairs(ids)
    return len(ids)


def _fingerprint_chunk(ids):
    return ensure_fingerprints(ids)
