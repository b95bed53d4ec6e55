from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalogue.models import Collection
from licensing.importing import LicenceFileError, import_licences


class Command(BaseCommand):
    help = (
        "Import licences from a CSV file (licence_number, client, catalogue_number, licence_date, and "
        "optionally usage, territory, sha256). Bad rows are listed and left out; the rest are imported; "
        "licences already stored are never changed. Exit status 1 when any row was refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", type=Path)
        parser.add_argument(
            "--collection", required=True, help="name of the collection the numbers belong to"
        )

    def handle(self, *args, csv, collection, **options):
        found = Collection.objects.filter(name=collection).first()
        if found is None:
            raise CommandError(f"no collection named {collection!r}")
        try:
            data = csv.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {csv}: {exc.strerror}")
        try:
            result = import_licences(data, found, source=f"import_licences {csv.name}")
        except LicenceFileError as exc:
            raise CommandError(f"nothing was imported: {exc}")
        for problem in result.problems:
            self.stderr.write(
                f"row {problem['row']} ({problem['licence_number'] or '-'}): {problem['message']}"
            )
        self.stdout.write(f"{len(result.created)} licences imported, {result.rejected} rows refused")
        if result.problems:
            raise SystemExit(1)
