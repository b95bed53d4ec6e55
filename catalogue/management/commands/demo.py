import random
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from catalogue.variants import make_variant

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
# What a newcomer should see in minutes: exact copies (settled automatically), near-duplicates (review
# queue) and look-alikes (kept apart).
DEMO_KINDS = (
    "identical",
    "pixel-identical-png",
    "resized",
    "recompressed",
    "colour-changed",
    "greyscale",
    "rotated-90",
    "mirrored",
    "cropped",
    "bordered",
    "caption-strip",
    "skewed",
    "exif-rotated",
)


class Command(BaseCommand):
    help = (
        "Build a demo from a folder of photos: an archive collection with archive-style variants of some "
        "photos, and a partner's mirror sharing part of it; then import both."
    )

    def add_arguments(self, parser):
        parser.add_argument("photos", help="a folder of photographs (JPEG/PNG/TIFF)")
        parser.add_argument("--count", type=int, default=60, help="photos to take (default 60)")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options):
        source = Path(options["photos"])
        photos = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise CommandError(f"no photos (JPEG/PNG/TIFF) under {source}")
        rng = random.Random(options["seed"])
        chosen = rng.sample(photos, min(options["count"], len(photos)))
        root = Path(settings.DATA_DIR) / "demo"
        shutil.rmtree(root, ignore_errors=True)
        archive, mirror = root / "archive", root / "partner-mirror"
        archive.mkdir(parents=True)
        mirror.mkdir(parents=True)
        variants = self._write(chosen, archive, mirror, rng)
        self.stdout.write(f"Wrote {len(chosen)} photos and {variants} variants under {root}")
        for folder, name in ((archive, "Demo archive"), (mirror, "Partner mirror")):
            call_command(
                "import_collection", str(folder), collection=name, stdout=self.stdout, stderr=self.stderr
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Demo collections imported. The worker fingerprints them in the background; "
                "or run: python manage.py find_duplicates"
            )
        )

    def _write(self, chosen, archive, mirror, rng):
        count = 0
        for index, photo in enumerate(chosen):
            shutil.copy(photo, archive / photo.name)
            if index % 3 == 0:
                for kind in rng.sample(DEMO_KINDS, 2):
                    variant = make_variant(photo, kind, rng=random.Random(rng.random()))
                    (archive / variant.filename).write_bytes(variant.data)
                    count += 1
            if index % 4 == 0:
                shutil.copy(photo, mirror / photo.name)
        return count
