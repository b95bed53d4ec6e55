import csv
import io
import random
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from catalogue import scripts
from catalogue.models import Collection
from catalogue.variants import make_variant

CROSS_BORDER = 6
# Real Hong Kong and Guangdong subjects, in Traditional Chinese as our catalogue writes them.
HK_FIELDS = ("何藩", "1962年", "版權所有", "香港歷史檔案館藏")  # creator, date, rights, credit line
GD_FIELDS = ("何藩", "1962年", "版权所有")
DEMO_TITLES = ("香港大會堂落成典禮", "維多利亞港晨曦", "九龍城寨航拍", "中環街市", "天星小輪", "廣州沙面街景")

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
        self._cross_border(chosen, root, rng)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo collections imported. The worker fingerprints them in the background; "
                "or run: python manage.py find_duplicates"
            )
        )

    def _cross_border(self, chosen, root, rng):
        """A Hong Kong reference archive catalogued in Traditional Chinese (Big5-HKSCS manifest) and a
        Mainland partner's library with the same photographs catalogued in Simplified Chinese (GB18030
        manifest): exact copies whose rights differ only in script settle, with the reason saying so;
        resized copies and a really different credit line reach a person; search finds both sides."""
        photos = [p for p in chosen if p.suffix.lower() in {".jpg", ".jpeg"}][:CROSS_BORDER]
        if not photos:
            return
        ours, theirs = root / "hong-kong", root / "guangdong"
        ours.mkdir()
        theirs.mkdir()
        hk_rows, gd_rows = [], []
        for index, photo in enumerate(photos):
            title = DEMO_TITLES[index % len(DEMO_TITLES)]
            shutil.copy(photo, ours / photo.name)
            number = f"{index + 1:03d}"
            hk_rows.append([photo.name, f"HK-DEMO-{number}", title, *HK_FIELDS])
            if index % 2:
                variant = make_variant(photo, "resized", rng=random.Random(rng.random()))
                name = variant.filename
                (theirs / name).write_bytes(variant.data)
            else:
                name = photo.name
                shutil.copy(photo, theirs / name)
            # Every third credit line really differs (the partner's own): that pair waits for a person.
            credit = "广东省立中山图书馆藏" if index % 3 == 2 else "香港历史档案馆藏"
            gd_rows.append([name, f"GD-DEMO-{number}", scripts.simplified(title), *GD_FIELDS, credit])
        header = ["filename", "catalogue_number", "title", "creator", "date", "rights", "credit_line"]
        for folder, rows, encoding in ((ours, hk_rows, "big5hkscs"), (theirs, gd_rows, "gb18030")):
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows([header, *rows])
            (root / f"{folder.name}.csv").write_bytes(text.getvalue().encode(encoding))
        Collection.objects.update_or_create(
            name="香港歷史檔案館（示範）", defaults={"institution": "香港歷史檔案館", "reference": True}
        )
        Collection.objects.update_or_create(
            name="广东省立中山图书馆（示范）",
            # Held by our archive in the merged database (its owner's name written in Simplified).
            defaults={"institution": "香港历史档案馆", "partner": "广东省立中山图书馆"},
        )
        for folder, name in ((ours, "香港歷史檔案館（示範）"), (theirs, "广东省立中山图书馆（示范）")):
            call_command(
                "import_collection", str(folder), collection=name, manifest=str(root / f"{folder.name}.csv"),
                stdout=self.stdout, stderr=self.stderr,
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
