import csv
import json
from datetime import date

from django import forms
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalogue import access
from catalogue.models import CatalogueRecord
from catalogue.roles import IMPORT, REVIEW, VIEW, permission_required
from dedup.models import CandidatePair
from mastercopy.redirects import redirect_back

from . import history, present, reports, versions
from .importing import LicenceFileError, import_licences
from .models import Licence


def get_licence_for_user(user, pk):
    """The licence, or 404 when it does not exist or its collection is one user may not see."""
    licence = get_object_or_404(Licence.objects.select_related("collection", "record__collection"), pk=pk)
    access.require(user, licence.collection_id)
    return licence


def licence_answer(licence, user):
    answer = history.as_of(licence.record, history.end_of_day(licence.licensed_on), user, licence.sha256)
    return present.answer_data(answer, user)


def matching_records(user, number, collection=None):
    """The visible records with this catalogue number: exactly (the indexed look-up), else in any case."""
    records = access.only_visible(CatalogueRecord.objects.all(), user).select_related("collection")
    if collection is not None:
        records = records.filter(collection=collection)
    exact = records.filter(catalogue_number=number).order_by("collection__name")
    if exact.exists():
        return exact
    return records.filter(catalogue_number__iexact=number).order_by("collection__name")


@permission_required(VIEW)
def licence_list(request):
    query = request.GET.get("q", "").strip()
    licences = access.only_visible(Licence.objects.all(), request.user).select_related("collection")
    if query:
        exact = licences.filter(number=query).first()
        if exact is not None:
            return redirect(exact)
        licences = licences.filter(number__icontains=query) | licences.filter(catalogue_number=query)
    context = {
        "query": query,
        "licences": licences.order_by("-licensed_on", "number")[:200],
        "collections": access.visible_collections(request.user),
    }
    return render(request, "licensing/licence_list.html", context)


@permission_required(VIEW)
def licence_detail(request, pk):
    licence = get_licence_for_user(request.user, pk)
    context = {"licence": licence, "answer": licence_answer(licence, request.user)}
    return render(request, "licensing/licence_detail.html", context)


class AsOfForm(forms.Form):
    number = forms.CharField(label=gettext_lazy("Catalogue number"), max_length=300)
    date = forms.DateField(label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"}))


@permission_required(VIEW)
def as_of(request):
    form = AsOfForm(request.GET or None)
    answers = []
    if form.is_valid():
        moment = history.end_of_day(form.cleaned_data["date"])
        for record in matching_records(request.user, form.cleaned_data["number"]):
            answers.append(present.answer_data(history.as_of(record, moment, request.user), request.user))
    return render(request, "licensing/as_of.html", {"form": form, "answers": answers})


class ImportForm(forms.Form):
    collection = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Collection"))
    file = forms.FileField(label=gettext_lazy("Licences (CSV, UTF-8)"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collection"].queryset = access.visible_collections(user)


@permission_required(IMPORT)
def licence_import(request):
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    result = error = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = import_licences(
                upload.read(), form.cleaned_data["collection"], user=request.user, source=upload.name
            )
        except LicenceFileError as exc:
            error = _("Nothing was imported: %(why)s") % {"why": exc}
        else:
            messages.success(
                request,
                _("%(n)d licences imported, %(r)d rows refused.")
                % {"n": len(result.created), "r": result.rejected},
            )
    status = 400 if error else 200
    return render(
        request, "licensing/import.html", {"form": form, "result": result, "error": error}, status=status
    )


@permission_required(VIEW)
def report(request):
    collection = get_object_or_404(
        access.visible_collections(request.user), pk=_int(request.GET.get("collection"))
    )
    kind = request.GET.get("kind", "superseded")
    if kind not in reports.KINDS:
        raise Http404
    fmt = request.GET.get("format", "html")
    rows = reports.rows(collection, kind, request.user)
    if fmt == "csv":
        return csv_response(rows, f"licences-{kind}-{collection.pk}")
    if fmt == "json":
        body = json.dumps(list(rows), cls=DjangoJSONEncoder, ensure_ascii=False, indent=1)
        return HttpResponse(body, content_type="application/json")
    context = {"collection": collection, "kind": kind, "rows": list(rows), "fields": reports.FIELDS}
    return render(request, "licensing/report.html", context)


def _int(value):
    return int(value) if (value or "").isdigit() else 0


class _Echo:
    def write(self, value):
        return value


def csv_response(rows, name):
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(reports.FIELDS)
        for row in rows:
            yield writer.writerow([reports.formula_safe(row[field]) for field in reports.FIELDS])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def parse_date(value):
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def get_pair_for_user(user, pk):
    """The candidate pair, or 404 when it does not exist or either collection is hidden from user."""
    pair = get_object_or_404(
        CandidatePair.objects.select_related("image_a__record", "image_b__record"), pk=pk
    )
    access.require_pair(user, pair)
    return pair


@permission_required(REVIEW)
@require_POST
def updated_version(request, pk):
    pair = get_pair_for_user(request.user, pk)
    newer_side = request.POST.get("newer")
    if newer_side not in ("left", "right"):
        return HttpResponse(status=400)
    try:
        versions.record_updated_version(pair, newer_side, request.user, request.POST.get("comment", ""))
    except versions.VersionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Recorded as an updated version; the older record is retired."))
    newer = pair.image_b if newer_side == "right" else pair.image_a
    return redirect_back(request, newer.record.get_absolute_url())
