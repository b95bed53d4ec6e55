import io

import pytest
from django.core.management import call_command

from catalogue.models import Collection, ImageFile


@pytest.mark.django_db
def test_demo_builds_an_archive_with_variants_and_a_partner_mirror(photos, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    out = io.StringIO()

    call_command("demo", str(photos[0].parent), count=9, stdout=out, stderr=io.StringIO())

    archive = Collection.objects.get(name="Demo archive")
    mirror = Collection.objects.get(name="Partner mirror")
    assert archive.images.count() == 9 + 6  # every third photo gets two variants
    assert mirror.images.count() == 3
    mirrored = set(mirror.images.values_list("sha256", flat=True))
    assert mirrored <= set(archive.images.values_list("sha256", flat=True))
    assert "__" in "".join(archive.images.values_list("source_path", flat=True))
    assert not ImageFile.objects.filter(state=ImageFile.State.FAILED).exists()
    assert "Demo collections imported" in out.getvalue()
