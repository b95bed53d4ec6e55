"""The deduplication policy of a collection: defaults from settings, overrides per collection.

Keys (README documents them):
- auto_settle: settle exact copies (byte- or pixel-identical) automatically. Default on.
- keep_best: the order of criteria that picks the master among duplicates. Default
  resolution, then richness (filled catalogue fields), then accession (earliest import first).
- duplicate_relations: the relations this institution treats as the same record (the review screen
  suggests "duplicate" for them, "related" otherwise). Default: exact copies, format changes,
  recompressions, rescans at another size, rotations, mirrors, scanner borders and skews; crops,
  overlays, colour changes and greyscale versions are related-but-distinct by default.
- thresholds: Hamming distances per signal (phash, orientation, border, crop) for this collection.
- review_min_score: probable pairs scoring below it are kept as rejected instead of queued. Default 0
  (everything verification confirms is queued); supervisors' calibration suggests a value.
- approval_rules, approval_experience: two-person rules (review.approval). Default none.
- auto_relations: {relation: lowest score} settled automatically as duplicates beyond exact copies;
  switched on from calibration only once the evidence allows it (review.calibration). Default none.
- band_precision: the level a band decision (review.bands) needs: "accept the suggested master for
  all N" is allowed only when the lower bound of the 95% interval of the band's estimated precision is
  at least this. Default 0.99.
"""

from django.conf import settings
from django.utils.translation import gettext_lazy as _

KEEP_BEST_CRITERIA = ("resolution", "file_size", "richness", "lossless", "accession")
# The relation vocabulary of dedup.verify, but "different", which is never a duplicate.
RELATIONS = (
    "identical",
    "pixel-identical",
    "format-changed",
    "recompressed",
    "resized",
    "rotated",
    "mirrored",
    "bordered",
    "skewed",
    "cropped",
    "colour-changed",
    "greyscale",
    "overlay",
)
# Two-person rules a collection may switch on (review.approval applies them).
APPROVAL_RULES = {
    "rights_differ": _("duplicates where the records' rights, credit line or owner differ"),
    "duplicate": _("every duplicate decision"),
    "related": _("every related-but-distinct decision"),
    "distinct": _("every not-related decision"),
    "new_cataloguer": _("every decision of a new cataloguer"),
}
DEFAULTS = {
    "auto_settle": True,
    "keep_best": ["resolution", "richness", "accession"],
    "duplicate_relations": list(RELATIONS[:9]),  # up to "skewed": the same picture, however stored
    # Probable pairs scoring below this are kept as rejected, not queued (set from calibration).
    "review_min_score": 0.0,
    # Two-person rules (review.approval): which decisions wait for a supervisor's approval.
    "approval_rules": [],
    # With the new_cataloguer rule: decisions that must have taken effect before one decides alone.
    "approval_experience": 50,
    # Automatic settling beyond exact copies: {relation: lowest score}, switched on per relation from
    # calibration evidence only (review.calibration.auto_evidence).
    "auto_relations": {},
    # Band decisions (review.bands): the lower bound of the band's 95% interval must reach this.
    "band_precision": 0.99,
}
_LOSSLESS = {"TIFF", "PNG", "BMP"}
_RICH_FIELDS = ("title", "creator", "date_text", "rights", "credit_line", "source")


def for_collection(collection):
    policy = {**DEFAULTS, "thresholds": dict(settings.MASTERCOPY_THRESHOLDS)}
    overrides = collection.policy or {}
    for key, value in overrides.items():
        if key == "thresholds":
            policy["thresholds"].update({k: int(v) for k, v in value.items() if k in policy["thresholds"]})
        elif key in DEFAULTS:
            policy[key] = value
    return policy


def same_record(relation, rules):
    """Every label of a verified relation ("resized+recompressed") is one the policy rules count as
    the same record (its duplicate_relations)."""
    labels = [label for label in relation.split("+") if label]
    return bool(labels) and all(label in rules["duplicate_relations"] for label in labels)


def pair_limits(collection_a, collection_b):
    """A pair across two collections must be within both collections' thresholds."""
    a, b = for_collection(collection_a)["thresholds"], for_collection(collection_b)["thresholds"]
    return {name: min(a[name], b[name]) for name in a}


def _richness(record):
    return sum(1 for name in _RICH_FIELDS if getattr(record, name)) + len(record.metadata or {})


def _key(image, criterion):
    return {
        "resolution": lambda: image.width * image.height,
        "file_size": lambda: image.size,
        "richness": lambda: _richness(image.record),
        "lossless": lambda: image.format in _LOSSLESS,
        "accession": lambda: -image.pk,
    }[criterion]()


def rank_images(images, rule):
    """Images best first by the keep-best rule, and a reason that names the deciding criterion. A
    reference collection's image (the authoritative archive) comes before every other, whatever the rule."""
    ordered = sorted(
        images,
        key=lambda image: (image.collection.reference, *(_key(image, c) for c in rule)),
        reverse=True,
    )
    best, runner = ordered[0], ordered[1] if len(ordered) > 1 else None
    if runner is not None and best.collection.reference and not runner.collection.reference:
        return ordered, f"the reference collection's record ({best.collection.name})"
    return ordered, _reason(best, runner, rule)


def suggestion(pair):
    """What the pair screen suggests for a pair: the side of the master image by the keep-best rule of
    image_a's collection ("left" for image_a, "right" for image_b), the reason, and "duplicate" when
    that collection counts the pair's relation as the same record ("related" otherwise). One function,
    so that a band decision (review.bands) accepts exactly what the screen suggests for each pair."""
    a, b = pair.image_a, pair.image_b
    rules = for_collection(a.record.collection)
    ranked, reason = rank_images([a, b], rules["keep_best"])
    return {
        "side": "left" if ranked[0].pk == a.pk else "right",
        "reason": reason,
        "kind": "duplicate" if same_record(pair.relation, rules) else "related",
        "thresholds": rules["thresholds"],
    }


def _reason(best, runner, rule):
    if runner is None:
        return "only image"
    for criterion in rule:
        if _key(best, criterion) != _key(runner, criterion):
            return {
                "resolution": f"highest resolution ({best.width}×{best.height} against "
                f"{runner.width}×{runner.height})",
                "file_size": f"largest file ({best.size:,} bytes against {runner.size:,})",
                "richness": "richest catalogue record",
                "lossless": f"lossless format ({best.format} against {runner.format})",
                "accession": "earliest accession",
            }[criterion]
    return "equal by every criterion; earliest accession"
