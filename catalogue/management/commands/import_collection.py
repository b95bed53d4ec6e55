import os
import zipfile

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalogue import manifest as manifest_module
from catalogue.importing import REJECTED, Importer, count_folder, import_folder, import_zip
from catalogue.models import Collection, ImportBatch


class Command(BaseCommand):
    help = (
        "Import a folder (recursively) or a zip archive of images into a collection. "
        "Idempotent: files whose path is already in the collection are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="a folder or a .zip file on this server")
        parser.add_argument("--collection", required=True, help="collection name (created if missing)")
        parser.add_argument("--manifest", help="CSV mapping file names to catalogue fields")
        parser.add_argument("--manifest-encoding", help="force the manifest's encoding (default: detect)")
        parser.add_argument("--institution", default="", help="institution, when the collection is created")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        path = options["path"]
        if not os.path.exists(path):
            raise CommandError(f"{path} does not exist")
        manifest = self._manifest(options)
        collection, created = Collection.objects.get_or_create(
            name=options["collection"], defaults={"institution": options["institution"]}
        )
        if created:
            self.stdout.write(f"Created collection {collection.name}")
        is_zip = os.path.isfile(path) and zipfile.is_zipfile(path)
        if os.path.isfile(path) and not is_zip:
            raise CommandError(f"{path} is neither a folder nor a zip archive")
        importer = Importer(
            collection,
            source=ImportBatch.Source.ZIP if is_zip else ImportBatch.Source.FOLDER,
            root=os.path.abspath(path),
            manifest=manifest,
            keep_all_results=False,
        )
        total = len(zipfile.ZipFile(path).infolist()) if is_zip else count_folder(path)
        with tqdm(total=total, unit="file", disable=options["no_progress"], file=self.stderr) as bar:
            if is_zip:
                with open(path, "rb") as fileobj:
                    import_zip(importer, fileobj, progress=bar.update)
            else:
                import_folder(importer, path, progress=bar.update)
        batch = importer.finish()
        self._summary(batch)

    def _manifest(self, options):
        if not options["manifest"]:
            return None
        try:
            with open(options["manifest"], "rb") as fileobj:
                return manifest_module.parse(fileobj.read(), options["manifest_encoding"])
        except OSError as exc:
            raise CommandError(f"cannot read the manifest: {exc}")
        except manifest_module.ManifestError as exc:
            raise CommandError(f"manifest refused, nothing imported: {exc}")

    def _summary(self, batch):
        for message in batch.manifest_messages:
            self.stdout.write(self.style.WARNING(f"manifest: {message}"))
        problems = [r for r in batch.results if r["status"] == REJECTED]
        for result in problems[:100]:
            self.stdout.write(self.style.ERROR(f"rejected {result['path']}: {result['message']}"))
        if len(problems) > 100:
            self.stdout.write(f"... and {len(problems) - 100} more rejected (see import #{batch.pk})")
        self.stdout.write(
            self.style.SUCCESS(
                f"Import #{batch.pk} into {batch.collection}: {batch.stored} stored, "
                f"{batch.skipped} skipped (already imported or system files), {batch.rejected} rejected."
            )
        )
