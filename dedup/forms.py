from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import policy as dedup_policy
from . import sentences


class PolicyForm(forms.Form):
    """A collection's deduplication policy (dedup.policy), as the collection page shows and saves it."""

    auto_settle = forms.BooleanField(
        required=False, label=gettext_lazy("Settle exact copies automatically (byte- or pixel-identical)")
    )
    keep_best = forms.CharField(
        label=gettext_lazy("Keep-best rule (criteria in order)"),
        help_text=gettext_lazy(
            "comma-separated, from: source, quality, resolution, file_size, richness, lossless, accession"
        ),
    )
    duplicate_relations = forms.MultipleChoiceField(
        required=False,
        label=gettext_lazy("Relations that count as the same record"),
        widget=forms.CheckboxSelectMultiple,
        choices=[(r, sentences.RELATION_NAMES.get(r, r)) for r in dedup_policy.RELATIONS],
    )
    phash = forms.IntegerField(min_value=0, max_value=32, label=gettext_lazy("pHash distance"))
    orientation = forms.IntegerField(
        min_value=0, max_value=32, label=gettext_lazy("Rotation / mirror distance")
    )
    border = forms.IntegerField(min_value=0, max_value=32, label=gettext_lazy("Border-trimmed distance"))
    crop = forms.IntegerField(min_value=0, max_value=32, label=gettext_lazy("Crop (region) distance"))
    approval_rules = forms.MultipleChoiceField(
        required=False,
        label=gettext_lazy("Two-person rules: decisions that take effect only after a supervisor approves"),
        widget=forms.CheckboxSelectMultiple,
        choices=list(dedup_policy.APPROVAL_RULES.items()),
    )
    approval_experience = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100000,
        label=gettext_lazy("Decisions a new cataloguer makes under approval"),
        help_text=gettext_lazy(
            "with the new-cataloguer rule: decisions that took effect before one decides alone"
        ),
    )
    band_precision = forms.FloatField(
        required=False,
        min_value=0.5,
        max_value=1,
        label=gettext_lazy("Precision a band decision needs"),
        help_text=gettext_lazy(
            "accepting the suggested master for a whole score band is allowed only when the lower bound "
            "of its estimated precision (a 95 per cent interval) is at least this, e.g. 0.99"
        ),
    )

    def __init__(self, *args, initial=None, **kwargs):
        if initial is not None:
            initial = {
                **initial,
                **initial.get("thresholds", {}),
                "keep_best": ", ".join(initial["keep_best"]),
            }
        super().__init__(*args, initial=initial, **kwargs)

    def clean_keep_best(self):
        criteria = [c.strip() for c in self.cleaned_data["keep_best"].split(",") if c.strip()]
        unknown = [c for c in criteria if c not in dedup_policy.KEEP_BEST_CRITERIA]
        if unknown or not criteria:
            raise forms.ValidationError(
                _("Unknown criteria: %(names)s") % {"names": ", ".join(unknown) or "—"}
            )
        return criteria

    def policy(self):
        data = self.cleaned_data
        return (
            {
                "auto_settle": data["auto_settle"],
                "keep_best": data["keep_best"],
                "duplicate_relations": data["duplicate_relations"],
                "thresholds": {name: data[name] for name in ("phash", "orientation", "border", "crop")},
                "approval_rules": data["approval_rules"],
            }
            | (
                {}
                if data["approval_experience"] is None
                else {"approval_experience": data["approval_experience"]}
            )
            | ({} if data["band_precision"] is None else {"band_precision": data["band_precision"]})
        )
