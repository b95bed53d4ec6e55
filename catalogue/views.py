import logging
import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.functions import Coalesce
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as BrokerError

from mastercopy.redirects import redirect_back

from . import access
from . import manifest as manifest_module
from .files import original_response
from .middleware import SESSION_KEY
from .models import CatalogueRecord, Collection, ImageFile, ImportBatch, Profile, UploadJob
from .roles import IMPORT, VIEW, permission_required
from .tasks import process_upload

log = logging.getLogger(__name__)

class CollectionForm(forms.ModelForm):
    class Meta:
        model = Collection
        fields = [
            "name",
            "institution",
            "partner",
            "reference",
            "description",
            "default_rights",
            "default_credit_line",
            "restricted_to",
        ]
        widgets = {"restricted_to": forms.CheckboxSelectMultiple}


def _get_collection(request, pk):
    collection = get_object_or_404(Collection, pk=pk)
    access.require(request.user, collection.pk)
    return collection


@permission_required(VIEW)
def collection_list(request):
    # The counters the database keeps (CollectionCounts): one row per collection, not a count (nor a
    # join of records with images, which multiplied the two) over a million rows per request.
    collections = access.visible_collections(request.user).annotate(
        record_count=Coalesce("counts__records", 0),
        image_count=Coalesce("counts__images", 0),
    )
    return render(request, "catalogue/collection_list.html", {"collections": collections})


@permission_required(IMPORT)
def collection_new(request):
    form = CollectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        collection = form.save(commit=False)
        collection.created_by = request.user
        collection.save()
        form.save_m2m()
        messages.success(request, _("Collection created. Now bring its images in."))
        return redirect("catalogue-upload", collection.pk)
    return render(request, "catalogue/collection_form.html", {"form": form})


@permission_required(VIEW)
def collection_detail(request, pk):
    """The collection and its imports and records; its progress, policy and decisions are dedup's and
    review's parts, drawn by their template tags (catalogue imports neither)."""
    collection = _get_collection(request, pk)
    context = {
        "collection": collection,
        "policy_changes": collection.policy_changes.select_related("actor")[:10],
        "imports": collection.imports.all()[:20],
        "records": collection.records.order_by("catalogue_number")[:50],
    }
    return render(request, "catalogue/collection_detail.html", context)


@permission_required(IMPORT)
def upload(request, pk):
    collection = _get_collection(request, pk)
    if request.method != "POST":
        return render(request, "catalogue/upload.html", {"collection": collection})
    if int(request.META.get("CONTENT_LENGTH") or 0) > settings.MASTERCOPY_MAX_UPLOAD_BYTES:
        limit = settings.MASTERCOPY_MAX_UPLOAD_BYTES / 1e9
        return _upload_error(
            request, collection, _("The upload is larger than %(limit).1f GB.") % {"limit": limit}, 413
        )
    files = request.FILES.getlist("files")
    if not files:
        return _upload_error(request, collection, _("Choose at least one image or zip archive."), 400)
    manifest = None
    if request.FILES.get("manifest"):
        try:
            manifest = manifest_module.parse(
                request.FILES["manifest"].read(), request.POST.get("manifest_encoding") or None
            )
        except manifest_module.ManifestError as exc:
            message = _("Manifest refused, nothing was imported: %(reason)s") % {"reason": exc}
            return _upload_error(request, collection, message, 400)
    job = _stage_upload(request, collection, files, manifest)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"redirect": job.get_absolute_url()})
    return redirect(job)


def _stage_upload(request, collection, files, manifest):
    """Put the uploaded files where every worker reads them (the default storage) and queue their import;
    the unpacking, checking and storing happen in catalogue.tasks.process_upload, not in this request."""
    folder = f"{settings.MASTERCOPY_UPLOAD_STAGING}/{uuid.uuid4().hex}"
    staged = [
        {"name": f.name, "key": default_storage.save(f"{folder}/{n:05d}", f), "size": f.size}
        for n, f in enumerate(files)
    ]
    job = UploadJob(collection=collection, created_by=request.user, files=staged, total=len(staged))
    if manifest:
        job.manifest_name = request.FILES["manifest"].name[:500]
        job.manifest_encoding = manifest.encoding
        request.FILES["manifest"].seek(0)
        job.manifest_key = default_storage.save(f"{folder}/manifest", request.FILES["manifest"])
    job.save()
    transaction.on_commit(lambda: _enqueue_upload(job))
    return job


def _enqueue_upload(job):
    try:
        process_upload.delay(job.pk)
    except BrokerError as exc:
        log.error("upload %s staged but not queued, the broker is unreachable: %s", job.pk, exc)


def _upload_error(request, collection, message, status):
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"error": message}, status=status)
    return render(
        request, "catalogue/upload.html", {"collection": collection, "error": message}, status=status
    )


@permission_required(IMPORT)
def upload_job(request, pk):
    job = _get_upload_job(request, pk)
    return render(request, "catalogue/upload_job.html", {"job": job})


@permission_required(IMPORT)
def upload_job_progress(request, pk):
    job = _get_upload_job(request, pk)
    return render(request, "catalogue/_upload_job.html", {"job": job})


def _get_upload_job(request, pk):
    job = get_object_or_404(UploadJob.objects.select_related("collection", "batch"), pk=pk)
    access.require(request.user, job.collection_id)
    return job


@permission_required(VIEW)
def import_detail(request, pk):
    batch = get_object_or_404(ImportBatch.objects.select_related("collection"), pk=pk)
    access.require(request.user, batch.collection_id)
    status = request.GET.get("status")
    results = [r for r in batch.results if r["status"] == status] if status else batch.results
    return render(request, "catalogue/import_detail.html", {"batch": batch, "results": results})


@permission_required(VIEW)
def record_detail(request, pk):
    record = get_object_or_404(CatalogueRecord.objects.select_related("collection", "master"), pk=pk)
    access.require(request.user, record.collection_id)
    context = {
        "record": record,
        # None when the master is in a collection this user may not see: not named, not linked.
        "resolved": access.shown(request.user, record.resolve()),
        "images": record.images.all(),
        "superseded": access.only_visible(
            record.superseded_records.select_related("collection"), request.user
        ),
        "related": access.only_visible(record.related_records().select_related("collection"), request.user),
        "merged_fields": (access.shown_metadata(request.user, record.metadata) or {}).get(
            "merged_fields", {}
        ),
    }
    return render(request, "catalogue/record_detail.html", context)


@permission_required(VIEW)
def search(request):
    query = request.GET.get("q", "").strip()
    records = CatalogueRecord.objects.none()
    if query:
        records = (
            access.only_visible(CatalogueRecord.objects.all(), request.user)
            .filter(CatalogueRecord.matching(query))
            .select_related("collection", "master")
            .order_by("collection__name", "catalogue_number")[:200]
        )
    records = list(records)
    for record in records:  # a master in a collection hidden from the reader is not named
        record.shown_master = access.shown(request.user, record.master)
    # An old catalogue number keeps working: it resolves to its master, and the page says so.
    resolved = [
        (r, access.shown(request.user, r.resolve()))
        for r in records
        if r.master_id and r.catalogue_number.casefold() == query.casefold()
    ]
    return render(
        request, "catalogue/search.html", {"query": query, "records": records, "resolved": resolved}
    )


@permission_required(VIEW)
def image_original(request, pk):
    return original_response(request.user, get_object_or_404(ImageFile, pk=pk))


@require_POST
def set_language(request):
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        return HttpResponse(status=400)
    if request.user.is_authenticated:
        Profile.objects.update_or_create(user=request.user, defaults={"language": language})
        request.session[SESSION_KEY] = language
    response = redirect_back(request, "catalogue-collections")
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax")
    return response
