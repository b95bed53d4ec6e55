"""IIIF Presentation 3 manifests (iiif-prezi3) of a catalogue record and of a candidate group: one canvas
per image, painted by the image's IIIF Image service (iiif.views), so a IIIF viewer an institution
already uses deep-zooms the true originals."""

from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from iiif_prezi3 import Manifest, ServiceV3

from . import tiles
from .image_api import PROFILE


def _text(value):
    return {"none": [str(value)]}


def _label(value):
    """A label in the reader's language, tagged as BCP 47 (zh-hant -> zh-Hant) as the spec asks."""
    language, _sep, script = (get_language() or "en").partition("-")
    return {language + (f"-{script.title()}" if script else ""): [str(value)]}


def _metadata(pairs):
    return [{"label": _label(name), "value": _text(value)} for name, value in pairs if value]


def _add_canvas(manifest, absolute, image, label, metadata=()):
    width, height = tiles.upright_size(image, tiles.pyramid(image))
    base = absolute(reverse("iiif-base", args=[image.pk]))
    canvas_id = f"{manifest.id}/canvas/{image.pk}"
    canvas = manifest.make_canvas(id=canvas_id, width=width, height=height, label=_text(label))
    if metadata:
        canvas.metadata = _metadata(metadata)
    page = canvas.add_image(
        f"{base}/full/max/0/default.jpg",
        anno_id=f"{canvas_id}/painting",
        anno_page_id=f"{canvas_id}/page",
        format="image/jpeg",
        width=width,
        height=height,
    )
    page.items[0].body.service = [ServiceV3(id=base, type="ImageService3", profile=PROFILE)]
    return canvas


def record_manifest(record, absolute):
    """absolute: turns a path into the absolute URL (request.build_absolute_uri)."""
    manifest = Manifest(
        id=absolute(reverse("iiif-manifest-record", args=[record.pk])),
        label=_text(record.title or record.catalogue_number),
        metadata=_metadata(
            [
                (_("catalogue number"), record.catalogue_number),
                (_("collection"), record.collection.name),
                (_("title"), record.title),
                (_("creator"), record.creator),
                (_("date"), record.date_text),
                (_("rights / licence"), record.rights),
                (_("source / provenance"), record.source),
            ]
        ),
        homepage=[
            {
                "id": absolute(record.get_absolute_url()),
                "type": "Text",
                "label": _text(record.catalogue_number),
                "format": "text/html",
            }
        ],
    )
    if record.credit_line:
        manifest.requiredStatement = {"label": _label(_("credit line")), "value": _text(record.credit_line)}
    for image in record.images.select_related("fingerprint").order_by("pk"):
        _add_canvas(manifest, absolute, image, image.original_filename)
    return manifest


def group_manifest(group, members, absolute):
    """members: the group's images, master first."""
    master = group.master
    manifest = Manifest(
        id=absolute(reverse("iiif-manifest-group", args=[group.pk])),
        label=_text(
            _("Candidate group %(id)s: %(number)s and %(count)s others")
            % {"id": group.pk, "number": master.record.catalogue_number, "count": len(members) - 1}
        ),
    )
    for image in members:
        role = _("proposed master") if image.pk == master.pk else _("candidate copy")
        _add_canvas(
            manifest,
            absolute,
            image,
            f"{image.record.catalogue_number} ({role})",
            [
                (_("catalogue number"), image.record.catalogue_number),
                (_("collection"), image.collection.name),
                (_("file name"), image.original_filename),
                (_("role in the group"), role),
            ],
        )
    return manifest
