"""Supervisor pages: the decision log with filters, reverts, per-cataloguer figures, charts, the chain
check, exports, calibration (administrators apply its suggestions) and sample re-review. Approvals
under the two-person rules are in views_approval. Every view needs catalogue.supervise, but the
calibration page (administrators too) and re-review items (any reviewer but the first decider)."""

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db.models import Exists, OuterRef, Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalogue import access
from catalogue.models import CatalogueRecord, Collection, CollectionCounts, ImageFile
from catalogue.roles import REVIEW, SUPERVISE, permission_required
from dedup.models import CandidatePair
from mastercopy.redirects import redirect_back

from . import approval, calibration, exports, rereview, services, summaries, supervision, views
from . import audit as audit_chain
from .models import Decision, DecisionCount

PAGE_SIZE = 50
SYSTEM = "system"


class _ListedChoices(forms.models.ModelChoiceIterator):
    """A select's choices read in one plain query: the default iterator() opens a server-side cursor
    on PostgreSQL (DECLARE ... WITH HOLD, FETCH, CLOSE: three round trips, 5-20 ms on a loaded
    machine) for a handful of collections or people."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class _ModelChoice(forms.ModelChoiceField):
    iterator = _ListedChoices


def _people():
    # One index probe per user (decision_actor_latest), not a pass over the decision log.
    return (
        get_user_model()
        .objects.filter(Exists(Decision.objects.filter(actor=OuterRef("pk"))))
        .order_by("username")
    )


class DecisionFilter(forms.Form):
    number = forms.CharField(
        label=gettext_lazy("Catalogue number"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("either record of the pair, old numbers included"),
    )
    cataloguer = forms.ChoiceField(label=gettext_lazy("Decided by"), required=False)
    start = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    end = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput({"type": "date"}))
    collection = _ModelChoice(
        Collection.objects.all(), label=gettext_lazy("Collection"), required=False
    )
    kind = forms.ChoiceField(label=gettext_lazy("Decision"), required=False)
    relation = forms.CharField(label=gettext_lazy("Relation"), required=False)
    band = forms.ChoiceField(label=gettext_lazy("Score"), required=False)
    flagged = forms.BooleanField(label=gettext_lazy("Flagged only"), required=False)
    waiting = forms.BooleanField(label=gettext_lazy("Waiting for approval only"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cataloguer"].choices = [("", _("Anyone")), (SYSTEM, _("the system (automatic)"))] + [
            (str(u.pk), u.get_username()) for u in _people()
        ]
        self.fields["kind"].choices = [("", _("Any decision"))] + list(Decision.Kind.choices)
        self.fields["band"].choices = [("", _("Any score"))] + [(k, k) for k in services.SCORE_BANDS]

    def apply(self, decisions):
        if not self.is_valid():
            return decisions.none()
        data = self.cleaned_data
        if data["number"].strip():
            decisions = decisions.filter(_numbered(data["number"].strip()))
        if data["cataloguer"] == SYSTEM:
            decisions = decisions.filter(automatic=True)
        elif data["cataloguer"]:
            decisions = decisions.filter(actor_id=data["cataloguer"])
        if data["start"]:
            decisions = decisions.filter(created_at__gte=_day_start(data["start"]))
        if data["end"]:
            decisions = decisions.filter(created_at__lt=_day_start(data["end"] + timedelta(days=1)))
        if data["collection"]:
            decisions = decisions.filter(pair__image_a__collection=data["collection"])
        if data["kind"]:
            decisions = decisions.filter(kind=data["kind"])
        if data["relation"]:
            decisions = decisions.filter(pair__relation=data["relation"])
        low, high = services.SCORE_BANDS.get(data["band"] or "", (None, None))
        if low is not None:
            decisions = decisions.filter(pair__score__gte=low)
        if high is not None:
            decisions = decisions.filter(pair__score__lt=high)
        if data["flagged"]:
            decisions = decisions.filter(flagged=True)
        if data["waiting"]:
            decisions = decisions.filter(pk__in=approval.waiting().values("pk"))
        return decisions


def _numbered(number):
    """Decisions on either record of the pair, or naming it master or superseded, for a catalogue
    number (any case). The records are found first (an index on the upper-cased number), then their
    images' pairs, so each condition is an index look-up; an OR across four joins read the whole log."""
    records = list(
        CatalogueRecord.objects.filter(catalogue_number__iexact=number).values_list("pk", flat=True)
    )
    images = list(ImageFile.objects.filter(record__in=records).values_list("pk", flat=True))
    pairs = CandidatePair.objects.filter(Q(image_a__in=images) | Q(image_b__in=images))
    pairs = list(pairs.values_list("pk", flat=True))
    return Q(pair__in=pairs) | Q(master__in=records) | Q(superseded__in=records)


class PeriodRevertForm(forms.Form):
    cataloguer = _ModelChoice(get_user_model().objects.none(), label=gettext_lazy("Cataloguer"))
    start = forms.DateTimeField(
        label=gettext_lazy("From"), widget=forms.DateTimeInput({"type": "datetime-local"})
    )
    end = forms.DateTimeField(
        label=gettext_lazy("To"), widget=forms.DateTimeInput({"type": "datetime-local"})
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=400)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cataloguer"].queryset = _people()


def _day_start(day):
    return timezone.make_aware(datetime.combine(day, time.min))


# Up to this many images in the collections a user may not see, their pairs are listed and left out
# (one index look-up per page); beyond it, every decision is joined to its pair's two images instead.
HIDDEN_IMAGES_LISTED = 20_000


def _visible_decisions(user, listed=False):
    """The decisions on pairs whose two collections user may see (catalogue.access): each decision's
    pair and images looked up (the log walks 50 of them, and counts to COUNT_CAP), or, listed, for the
    figures and charts of a filtered selection, which aggregate every decision of it: usually a few
    collections are hidden (a partner's mirror, an embargo), and then the pairs that touch them are left
    out by id instead of joining every decision to its pair and both images (at a million decisions
    those joins were most of each aggregate's time, and listing the hidden pairs costs 30-500 ms)."""
    ids = access.visible_ids(user)
    if ids is None:
        return Decision.objects.all()
    if not listed:
        return access.within(Decision.objects.all(), ids, *access.DECISION_COLLECTIONS)
    hidden = Collection.objects.exclude(pk__in=ids).values_list("pk", flat=True)
    hidden_images = CollectionCounts.objects.filter(collection__in=hidden).aggregate(n=Sum("images"))["n"]
    if (hidden_images or 0) > HIDDEN_IMAGES_LISTED:
        return access.only_visible(Decision.objects.all(), user, *access.DECISION_COLLECTIONS)
    # Lists, not subqueries: with the ids in hand each look-up is an index scan (as subqueries the
    # planner read the million pairs).
    images = list(ImageFile.objects.filter(collection__in=list(hidden)).values_list("pk", flat=True))
    pairs = CandidatePair.objects.filter(Q(image_a__in=images) | Q(image_b__in=images))
    hidden_pairs = list(pairs.values_list("pk", flat=True))
    return Decision.objects.filter(pair__isnull=False).exclude(pair__in=hidden_pairs)


def filtered_decisions(user, params, listed=False):
    """The decision log's filter form bound to params (a QueryDict), and the decisions user may see
    that it selects (all of them while it is unbound or invalid); the pages and the API use it alike.
    listed: see _visible_decisions (for aggregates over every selected decision)."""
    form = DecisionFilter(params or None)
    form.fields["collection"].queryset = access.visible_collections(user)
    decisions = _visible_decisions(user, listed)
    if form.is_bound:
        decisions = form.apply(decisions)
    return form, decisions


def _filtered(request, listed=False):
    return filtered_decisions(request.user, request.GET, listed)


# Figures and charts cover this many days unless a start date is chosen: their cost is the period's
# decisions, not the whole log's (a year of a busy archive is most of a million rows).
DEFAULT_PERIOD_DAYS = 30


def _filtered_period(request, listed=False):
    """_filtered, over the last DEFAULT_PERIOD_DAYS days when no start date is given; the third value
    is the default period's first day (None when the user chose the period)."""
    form, decisions = _filtered(request, listed)
    if form.is_bound and form.is_valid() and form.cleaned_data["start"]:
        return form, decisions, None
    since = timezone.localdate() - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return form, decisions.filter(created_at__gte=_day_start(since)), since


def _get_decision_for_supervisor(request, pk):
    if not request.user.has_perm(SUPERVISE):  # views are guarded already; this keeps the helper honest
        raise PermissionDenied
    return get_object_or_404(_visible_decisions(request.user), pk=pk)


@permission_required(SUPERVISE)
def decisions(request):
    form, counted = _filtered(request)
    # Joined: the pair, its images and records (the filters join them anyway); the rest is read for the
    # page's rows after (a join of ten tables cost PostgreSQL 30 ms to plan, more than to run).
    queryset = (
        counted.select_related("pair__image_a__record", "pair__image_b__record")
        .prefetch_related("actor", "master", "superseded", "pair__image_a__collection")
        # The recorded states and evidence are not shown in the log: not read and decoded for 50 rows.
        .defer("evidence", "before", "after", "effects", "pair__explanation", "pair__relation_params")
    ).annotate(
        overturned=Exists(Decision.objects.filter(corrects=OuterRef("pk"))),
        approved=Exists(Decision.objects.filter(approves=OuterRef("pk"))),
    )
    page = _KeysetPage(queryset, request.GET, counted, _log_count(request.user, form))
    query = request.GET.copy()
    for key in ("page", "older", "newer"):
        query.pop(key, None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "revertible": set(supervision.REVERTIBLE),
        "period_form": PeriodRevertForm(),
    }
    return render(request, "review/supervisor/decisions.html", context)


def _log_count(user, form):
    """How many decisions the log's filters select, from the counts (review.summaries) when they can
    say it: no filter but collection, kind and a cataloguer. None when the decisions must be counted."""
    if form.is_bound:
        if not form.is_valid():
            return None
        data = form.cleaned_data
        if any(value for name, value in data.items() if name not in ("collection", "kind", "cataloguer")):
            return None
        if data["cataloguer"] == SYSTEM:
            return None
    else:
        data = {}
    cells = DecisionCount.objects.filter(facet=summaries.LOG)
    ids = access.visible_ids(user)
    if ids is not None:
        cells = cells.filter(collection_id__in=ids, collection_b_id__in=ids)
    if data.get("collection"):
        cells = cells.filter(collection_id=data["collection"].pk)
    if data.get("kind"):
        cells = cells.filter(kind=data["kind"])
    if data.get("cataloguer"):
        cells = cells.filter(actor_id=int(data["cataloguer"]))
    return cells.aggregate(n=Sum("n"))["n"] or 0


class _KeysetPage:
    """PAGE_SIZE decisions, newest first, after (older=) or before (newer=) a position in the log. Each
    page is an index walk along the log's sequence from where the last one stopped, whatever its depth
    (an offset would read every row above it), and the total is counted only up to COUNT_CAP (a count
    of a million-row log per request is what made the page slow). counted: the same decisions, plain;
    count: their number when the counts know it (_log_count), else they are counted to the cap."""

    COUNT_CAP = 1_000

    def __init__(self, queryset, data, counted, count=None):
        older, newer = data.get("older", ""), data.get("newer", "")
        if newer.isdigit():
            rows = list(queryset.filter(sequence__gt=int(newer)).order_by("sequence")[: PAGE_SIZE + 1])
            self.has_previous, self.has_next = len(rows) > PAGE_SIZE, True
            rows = rows[:PAGE_SIZE][::-1]
        else:
            after = queryset.filter(sequence__lt=int(older)) if older.isdigit() else queryset
            rows = list(after.order_by("-sequence")[: PAGE_SIZE + 1])
            self.has_previous, self.has_next = older.isdigit(), len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
        self.rows = rows
        if count is None:  # counted by the database, up to the cap
            count = counted.order_by()[: self.COUNT_CAP + 1].count()
        self.count = count
        self.capped = self.count > self.COUNT_CAP
        self.count = min(self.count, self.COUNT_CAP)
        self.older = rows[-1].sequence if rows else None
        self.newer = rows[0].sequence if rows else None

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)


@require_POST
@permission_required(SUPERVISE)
def revert(request, pk):
    decision = _get_decision_for_supervisor(request, pk)
    try:
        result = supervision.revert(decision, request.user, reason=request.POST.get("reason", ""))
    except supervision.SupervisionError as error:
        messages.error(request, str(error))
    else:
        flagged = len(result.evidence.get("dependents", []))
        messages.success(
            request,
            _("Decision %(pk)s reverted; %(n)s later decision(s) flagged for review.")
            % {"pk": decision.pk, "n": flagged},
        )
    return redirect_back(request, "review-supervisor-decisions")


@require_POST
@permission_required(SUPERVISE)
def revert_period(request):
    form = PeriodRevertForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a cataloguer and a period to revert."))
        return redirect("review-supervisor-decisions")
    data = form.cleaned_data
    reverts = supervision.revert_period(
        data["cataloguer"],
        data["start"],
        data["end"],
        request.user,
        data["reason"],
        visible=access.visible_ids(request.user),
    )
    messages.success(
        request,
        _("%(n)s decision(s) by %(user)s reverted.")
        % {"n": len(reverts), "user": data["cataloguer"].get_username()},
    )
    return redirect("review-supervisor-decisions")


def _counted_period(request):
    """For the figures and charts: the filter form, the moment to count from when the counts
    (review.summaries) can answer for its filters (none but a start date: the default period's, or
    the one chosen; None when a filter needs the decisions themselves), and the default period's first
    day (None when the user chose the start)."""
    form = DecisionFilter(request.GET or None)
    form.fields["collection"].queryset = access.visible_collections(request.user)
    default = timezone.localdate() - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if not form.is_bound:
        return form, _day_start(default), default
    if not form.is_valid() or any(value for name, value in form.cleaned_data.items() if name != "start"):
        return form, None, None
    start = form.cleaned_data["start"]
    return form, _day_start(start or default), None if start else default


@permission_required(SUPERVISE)
def figures(request):
    form, counted_from, since = _counted_period(request)
    if counted_from is None:
        form, queryset, since = _filtered_period(request, listed=True)
        figures = supervision.cataloguer_figures(queryset)
    else:
        queryset = _visible_decisions(request.user).filter(created_at__gte=counted_from)
        figures = supervision.counted_figures(counted_from, access.visible_ids(request.user), queryset)
    context = {"form": form, "since": since, "figures": figures, "kinds": Decision.Kind.choices[:5]}
    return render(request, "review/supervisor/figures.html", context)


@permission_required(SUPERVISE)
def charts(request):
    form, counted_from, since = _counted_period(request)
    if counted_from is None:
        form, queryset, since = _filtered_period(request, listed=True)
        data = supervision.chart_data(queryset)
    else:
        data = supervision.counted_chart_data(counted_from, access.visible_ids(request.user))
    context = {"form": form, "since": since, "data": data}
    return render(request, "review/supervisor/charts.html", context)


@permission_required(SUPERVISE)
def audit(request):
    """Walk the hash chain now (on a supervisor's request: a full walk reads every decision), with
    verify_audit's defaults: the keyed hashes, the links and the checkpoints outside the database."""
    result, intact = "", None
    if request.GET.get("verify"):
        out = _Capture()
        try:
            call_command("verify_audit", stdout=out)
            intact, result = True, out.text.strip()
        except CommandError as error:
            intact, result = False, str(error)
    sequence, value = audit_chain.head(Decision.objects)
    context = {
        "result": result,
        "intact": intact,
        "head": f"{sequence}:{value}",
        "key_id": audit_chain.current_key_id(),
        "checkpoints": settings.MASTERCOPY_AUDIT_CHECKPOINTS,
    }
    return render(request, "review/supervisor/audit.html", context)


class _Capture:
    def __init__(self):
        self.text = ""

    def write(self, value):
        self.text += value

    def flush(self):
        pass


def _collection(request):
    pk = request.GET.get("collection", "")
    return get_object_or_404(access.visible_collections(request.user), pk=pk) if pk.isdigit() else None


@permission_required(SUPERVISE)
def export_mapping(request):
    return exports.mapping_response(request.user, _collection(request), request.GET.get("format"))


@permission_required(SUPERVISE)
def export_exact(request):
    return exports.exact_response(request.user, _collection(request), request.GET.get("format"))


@permission_required(SUPERVISE)
def export_premis(request):
    _form, queryset = filtered_decisions(request.user, request.GET)
    return exports.premis_response(queryset)


@permission_required(SUPERVISE)
def exports_page(request):
    return render(
        request, "review/supervisor/exports.html", {"collections": access.visible_collections(request.user)}
    )


# Calibration: supervisors read it; applying a suggestion is an administrator's recorded policy change.
CHANGE_POLICY = "catalogue.change_collection"


class CalibrationForm(forms.Form):
    target = forms.FloatField(
        label=gettext_lazy("Target precision"), min_value=0, max_value=1, initial=calibration.DEFAULT_TARGET
    )
    min_decisions = forms.IntegerField(
        label=gettext_lazy("Decisions needed per band"),
        min_value=1,
        initial=calibration.DEFAULT_MIN_DECISIONS,
    )

    def values(self):
        if self.is_bound and self.is_valid():
            return self.cleaned_data["target"], self.cleaned_data["min_decisions"]
        return calibration.DEFAULT_TARGET, calibration.DEFAULT_MIN_DECISIONS


def _may_see_calibration(user):
    return user.has_perm(SUPERVISE) or user.has_perm(CHANGE_POLICY)


@login_required
def calibration_page(request):
    if not _may_see_calibration(request.user):
        raise PermissionDenied
    form = CalibrationForm(request.GET or None)
    target, min_decisions = form.values()
    # From the counts (review.summaries), not a pass over every decision in effect.
    standing = calibration.counted(access.visible_ids(request.user))
    context = {
        "form": form,
        "target": target,
        "min_decisions": min_decisions,
        "bands": calibration.by_band(standing),
        "relations": calibration.by_relation(standing),
        "suggestions": calibration.suggestions(
            target, min_decisions, access.visible_collections(request.user)
        ),
        "may_apply": request.user.has_perm(CHANGE_POLICY),
        "auto": [
            (
                collection,
                [(relation, rows, calibration.lowest_eligible(rows)) for relation, rows in table.items()],
            )
            for collection in access.visible_collections(request.user).order_by("name")
            for table in [calibration.auto_table(collection)]
        ],
        "auto_min_decisions": settings.MASTERCOPY_AUTO_MIN_DECISIONS,
    }
    return render(request, "review/supervisor/calibration.html", context)


@require_POST
@permission_required(CHANGE_POLICY)
def calibration_auto(request, pk):
    """Switch automatic settling of one relation on (from a score the evidence allows, checked again
    here) or off, as an administrator's recorded policy change."""
    collection = get_object_or_404(access.visible_collections(request.user), pk=pk)
    relation = request.POST.get("relation", "")
    try:
        if request.POST.get("action") == "disable":
            calibration.disable_auto(collection, relation, request.user)
            messages.success(
                request, _("Automatic settling of %(relation)s is off.") % {"relation": relation}
            )
        else:
            low = float(request.POST.get("low", ""))
            calibration.enable_auto(collection, relation, low, request.user)
            messages.success(
                request,
                _("%(collection)s now settles %(relation)s from score %(score)s automatically.")
                % {"collection": collection, "relation": relation, "score": f"{low:.1f}"},
            )
    except ValueError:
        messages.error(request, _("Choose a score."))
    except calibration.CalibrationError as exc:
        messages.error(request, str(exc))
    return redirect("review-supervisor-calibration")


@require_POST
@permission_required(CHANGE_POLICY)
def calibration_apply(request, pk):
    """Apply the suggestion as it stands now: recomputed here, and refused if it moved since the page
    was drawn, so the administrator applies exactly the evidence they saw."""
    collection = get_object_or_404(access.visible_collections(request.user), pk=pk)
    form = CalibrationForm(request.POST)
    target, min_decisions = form.values()
    bands = calibration.by_band(calibration.counted(collection=collection))
    cell = calibration.suggest(bands, target, min_decisions)
    if cell is None or request.POST.get("min_score") != f"{cell.low:.1f}":
        messages.error(request, _("The suggestion has changed since the page was shown; check it again."))
    else:
        calibration.apply(collection, cell.low, request.user)
        messages.success(
            request,
            _("%(collection)s now reviews pairs scoring %(score)s or more.")
            % {"collection": collection, "score": f"{cell.low:.1f}"},
        )
    return redirect("review-supervisor-calibration")


# Sample re-review: supervisors draw samples and read the disagreements; any reviewer but the first
# decider re-decides an item, blind.


class DrawForm(forms.Form):
    cataloguer = _ModelChoice(
        get_user_model().objects.none(), label=gettext_lazy("Decided by"), required=False
    )
    collection = _ModelChoice(
        Collection.objects.all(), label=gettext_lazy("Collection"), required=False
    )
    start = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    end = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput({"type": "date"}))
    size = forms.IntegerField(
        label=gettext_lazy("Sample size"), min_value=1, max_value=rereview.MAX_SAMPLE, initial=20
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cataloguer"].queryset = _people()


class RedecideForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Your decision"),
        choices=[(k.value, k.label) for k in rereview.VERDICTS],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(label=gettext_lazy("Comment"), required=False, widget=forms.Textarea)


def _get_sample(request, pk):
    """A sample with a decision in a collection the user may not see is a 404 (rereview.visible_samples)."""
    return get_object_or_404(rereview.visible_samples(request.user), pk=pk)


def _get_rereview_item_for_user(request, pk):
    if not request.user.has_perm(REVIEW):
        raise PermissionDenied
    item = get_object_or_404(
        rereview.ReReviewItem.objects.select_related(
            "decision", "decision__pair__image_a__record", "decision__pair__image_b__record"
        ),
        pk=pk,
    )
    if not item.may_decide(request.user):
        raise PermissionDenied
    access.require_pair(request.user, item.decision.pair)
    return item


@permission_required(SUPERVISE)
def rereview_samples(request):
    form = DrawForm()
    form.fields["collection"].queryset = access.visible_collections(request.user)
    samples = rereview.visible_samples(request.user).select_related("created_by")
    context = {"samples": samples, "form": form}
    return render(request, "review/supervisor/rereview_samples.html", context)


@require_POST
@permission_required(SUPERVISE)
def rereview_draw(request):
    form = DrawForm(request.POST)
    form.fields["collection"].queryset = access.visible_collections(request.user)
    if not form.is_valid():
        messages.error(request, _("The sample was not drawn: %(errors)s") % {"errors": form.errors.as_text()})
        return redirect("review-rereview-samples")
    data = form.cleaned_data
    sample = rereview.draw(
        request.user,
        data["size"],
        cataloguer=data["cataloguer"],
        collection=data["collection"],
        start=_day_start(data["start"]) if data["start"] else None,
        end=_day_start(data["end"] + timedelta(days=1)) if data["end"] else None,
        visible=access.visible_ids(request.user),
    )
    messages.success(request, _("%(n)s decision(s) drawn for re-review.") % {"n": sample.items.count()})
    return redirect(sample)


@permission_required(SUPERVISE)
def rereview_sample(request, pk):
    sample = _get_sample(request, pk)
    context = {"sample": sample, "figures": sample.figures(), "disagreements": list(sample.disagreements())}
    return render(request, "review/supervisor/rereview_sample.html", context)


@permission_required(REVIEW)
def rereview_next(request, pk):
    """The next item of the sample for this reviewer, or the sample's end."""
    sample = _get_sample(request, pk)
    item = rereview.next_item(sample, request.user)
    if item is None:
        return render(request, "review/supervisor/rereview_item.html", {"sample": sample, "item": None})
    return redirect("review-rereview-item", pk=item.pk)


@permission_required(REVIEW)
def rereview_item(request, pk):
    """The pair without the first decision: the second look must not be anchored on the first."""
    item = _get_rereview_item_for_user(request, pk)
    form = RedecideForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item.record(request.user, form.cleaned_data["kind"], form.cleaned_data["comment"])
        except rereview.RereviewError as error:
            messages.error(request, str(error))
        return redirect("review-rereview-next", pk=item.sample_id)
    pair = item.decision.pair
    context = {
        "sample": item.sample,
        "item": item,
        "left": pair.image_a,
        "right": pair.image_b,
        "viewer": views.viewer_config(pair),  # the item screen's viewer and keys
        "form": form,
    }
    return render(request, "review/supervisor/rereview_item.html", context)
