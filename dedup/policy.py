"""The deduplication policy of a collection: defaults from settings, overrides per collection.

Keys (README documents them):
- auto_settle: settle exact copies (byte- or pixel-identical) automatically. Default on.
- keep_best: the order of criteria that picks the master among duplicates. Default
  source (the file verification found the other was made from: suggest_master), then quality (lossless,
  bit depth, estimated JPEG quality), then resolution (pixels that carry detail: an upscale counts as its
  source), then accession (earliest import first). Also: file_size, richness (filled catalogue fields),
  lossless. A collection that stored the old default (resolution, richness, accession) gets the new one.
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

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

KEEP_BEST_CRITERIA = ("source", "quality", "resolution", "file_size", "richness", "lossless", "accession")
# The default before "source" and "quality" existed; a collection that stored it (every save of the
# policy form did) gets today's default, so its suggestions prefer the source too.
OLD_DEFAULT_KEEP_BEST = ["resolution", "richness", "accession"]
# The relation vocabulary of dedup.verify, but "different", which is never a duplicate.
RELATIONS = (
    "identical",
    "pixel-identical",
    "format-changed",
    "recompressed",
    "resized",
    "upscaled",
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
    "keep_best": ["source", "quality", "resolution", "accession"],
    "duplicate_relations": list(RELATIONS[:10]),  # up to "skewed": the same picture, however stored
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
RICH_FIELDS = ("title", "creator", "date_text", "rights", "credit_line", "source")


def for_collection(collection):
    policy = {**DEFAULTS, "thresholds": dict(settings.MASTERCOPY_THRESHOLDS)}
    overrides = collection.policy or {}
    for key, value in overrides.items():
        if key == "thresholds":
            policy["thresholds"].update({k: int(v) for k, v in value.items() if k in policy["thresholds"]})
        elif key in DEFAULTS:
            policy[key] = value
    policy["keep_best"] = keep_best_rule(policy["keep_best"])
    if "resized" in policy["duplicate_relations"] and "upscaled" not in policy["duplicate_relations"]:
        # stored before upscales had their own label: an upscale was a resize
        policy["duplicate_relations"] = [*policy["duplicate_relations"], "upscaled"]
    return policy


def keep_best_rule(stored):
    """A stored keep-best list as it applies today: the old default becomes the new one; names that are no
    longer criteria are dropped (an empty result is the default)."""
    if list(stored) == OLD_DEFAULT_KEEP_BEST:
        return list(DEFAULTS["keep_best"])
    rule = [c for c in stored if c in KEEP_BEST_CRITERIA]
    return rule or list(DEFAULTS["keep_best"])


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
    return sum(1 for name in RICH_FIELDS if getattr(record, name)) + len(record.metadata or {})


def quality_facts(image):
    """The quality facts fingerprinting stored for the image (dedup.signals.quality_facts), or what its
    ImageFile row tells when it has no fingerprint yet."""
    try:
        facts = dict(image.fingerprint.quality or {})
    except ObjectDoesNotExist:
        facts = {}
    facts.setdefault("lossless", image.format in _LOSSLESS)
    return facts


def _quality(image):
    """Lossless first, then more bits per sample, then the higher estimated JPEG quality."""
    facts = quality_facts(image)
    bits = facts.get("bit_depth") or 8
    jpeg = facts.get("jpeg_quality")
    return (bool(facts["lossless"]), bits, 101 if facts["lossless"] else (jpeg if jpeg is not None else 0))


def _effective_pixels(image, derived):
    """Pixels that carry detail: an image verification found to be an upscale of another counts as its
    source's size, and so does one whose own measure says it holds less than its pixel count."""
    if image.pk in derived and "upscaled" in derived[image.pk][1]:
        source = derived[image.pk][0]
        return source.width * source.height
    scale = quality_facts(image).get("effective_scale") or 1.0
    return round(image.width * image.height * min(1.0, scale) ** 2)


def _key(image, criterion, derived=None):
    # A chain of ifs, not a dict of lambdas built per call: this runs for every criterion of every image
    # of every pair the keep-best rule ranks (a batch of 1,000 exact copies: 24,000 calls).
    derived = derived or {}
    if criterion == "source":
        return image.pk not in derived
    if criterion == "quality":
        return _quality(image)
    if criterion == "resolution":
        return _effective_pixels(image, derived)
    if criterion == "file_size":
        return image.size
    if criterion == "richness":
        return _richness(image.record)
    if criterion == "lossless":
        return image.format in _LOSSLESS
    if criterion == "accession":
        return -image.pk
    raise KeyError(criterion)


def rank_images(images, rule, derived=None):
    """Images best first by the keep-best rule, and a reason that names the deciding criterion. A
    reference collection's image (the authoritative archive) comes before every other, whatever the rule.
    derived: {image pk: (its source image, [derivations])} for the images verification found made from
    another of them (the "source" criterion puts those last; "resolution" counts an upscale as its source)."""
    derived = derived or {}
    ordered = sorted(images, key=lambda image: keep_best_key(image, rule, derived), reverse=True)
    best, runner = ordered[0], ordered[1] if len(ordered) > 1 else None
    if runner is not None and best.collection.reference and not runner.collection.reference:
        return ordered, f"the reference collection's record ({best.collection.name})"
    return ordered, _reason(best, runner, rule, derived)


def keep_best_key(image, rule, derived=None):
    """What rank_images orders by, highest first (equal keys keep their order): a reference collection's
    image, then the rule's criteria. Without derived it depends on the image alone, so a regroup
    computes it once per image for every pair without a direction (dedup.grouping)."""
    derived = derived or {}
    return (image.collection.reference, *(_key(image, c, derived) for c in rule))


def _criterion(best, runner, rule, derived):
    for criterion in rule:
        if _key(best, criterion, derived) != _key(runner, criterion, derived):
            return criterion
    return None


def _reason(best, runner, rule, derived=None):
    if runner is None:
        return gettext("only image")
    criterion = _criterion(best, runner, rule, derived or {})
    if criterion is None:
        return gettext("equal by every criterion; earliest accession")
    qb, qr = quality_facts(best), quality_facts(runner)
    return {
        "source": lambda: gettext("the source of the others"),
        "quality": lambda: gettext("better quality (%(best)s against %(other)s)")
        % {"best": quality_words(qb), "other": quality_words(qr)},
        "resolution": lambda: gettext("highest resolution (%(best)s against %(other)s)")
        % {"best": f"{best.width}×{best.height}", "other": f"{runner.width}×{runner.height}"},
        "file_size": lambda: gettext("largest file (%(best)s bytes against %(other)s)")
        % {"best": f"{best.size:,}", "other": f"{runner.size:,}"},
        "richness": lambda: gettext("richest catalogue record"),
        "lossless": lambda: gettext("lossless format (%(best)s against %(other)s)")
        % {"best": best.format, "other": runner.format},
        "accession": lambda: gettext("earliest accession"),
    }[criterion]()


def quality_words(facts):
    """"lossless, 16-bit" / "JPEG quality 75": the quality facts a keep-best reason compares."""
    if facts.get("lossless"):
        words = gettext("lossless")
    elif facts.get("jpeg_quality") is not None:
        words = gettext("JPEG quality %(q)s") % {"q": facts["jpeg_quality"]}
    else:
        words = gettext("lossy")
    if (facts.get("bit_depth") or 8) > 8:
        words += ", " + gettext("%(bits)s-bit") % {"bits": facts["bit_depth"]}
    return words


def shown_quality(image, pair=None):
    """The quality facts of one image as the pair screen shows them (templates/review/_quality.html):
    lossless, jpeg_quality, bit_depth, colour_profile, sharpness, and, when verification found this
    image to be an upscale of the other in the pair, upscaled (the factor) and effective (the size
    of the detail it holds: its source's)."""
    facts = quality_facts(image)
    shown = {
        "lossless": bool(facts.get("lossless")),
        "jpeg_quality": facts.get("jpeg_quality"),
        "bit_depth": facts.get("bit_depth") or 8,
        "colour_profile": image.icc_profile,
        "sharpness": facts.get("sharpness"),
        "upscaled": None,
        "effective": None,
    }
    if pair is not None and "upscaled" in (pair.derivation or "").split("+"):
        source = pair.source_image
        if source is not None and source.pk != image.pk:
            shown["upscaled"] = f"{_right_scale(pair):.2g}"
            shown["effective"] = f"{source.width}×{source.height}"
    return shown


# --------------------------------------------------------------------------- the suggested master


@dataclass(frozen=True)
class Suggestion:
    """What is suggested for a pair: the master's side ("left" for image_a, "right" for image_b), that
    image, the criterion that decided ("source", "reference", or a keep-best criterion), the reason in
    words, and the kind: "duplicate" when the collection counts the pair's relation as the same record,
    "related" otherwise."""

    side: str
    image: object
    criterion: str
    reason: str
    kind: str


def suggest_master(pair):
    """The one place that suggests a pair's master: the pair screen, a band decision (review.bands
    accepts exactly what the screen suggests), the export, the group proposal and automatic settling
    all call it. The source verification found (pair.source_side) wins, and the reason says what the
    other is ("Left is the source: Right is Left upscaled 1.6×; an upscale adds no detail"); otherwise
    the keep-best rule of image_a's collection decides, and the reason says that it did. A reference
    collection's image still comes first."""
    a, b = pair.image_a, pair.image_b
    rules = for_collection(a.collection)
    rule = rules["keep_best"]
    kind = "duplicate" if same_record(pair.relation, rules) else "related"
    source = pair.source_image
    derived = {}
    if source is not None:
        other = b if source is a else a
        derived[other.pk] = (source, (pair.derivation or "").split("+"))
    ordered, why = rank_images([a, b], rule, derived)
    best = ordered[0]
    side = "left" if best.pk == a.pk else "right"
    reference = best.collection.reference and not (ordered[1].collection.reference)
    criterion = "reference" if reference else (_criterion(best, ordered[1], rule, derived) or "accession")
    if criterion == "source":
        return Suggestion(side, best, criterion, source_reason(pair), kind)
    if reference:
        return Suggestion(side, best, criterion, why, kind)
    if source is None:
        text = gettext(
            "The pixels do not show which file was made from which; master by the collection's keep-best "
            "rule: %(reason)s."
        ) % {"reason": why}
    else:
        text = gettext("Master by the collection's keep-best rule: %(reason)s (%(direction)s).") % {
            "reason": why,
            "direction": source_reason(pair).rstrip("."),
        }
    return Suggestion(side, best, criterion, text, kind)


def _names(pair):
    """(source's name, derivative's name) as the pair screen shows them."""
    left, right = gettext("Left"), gettext("Right")
    return (left, right) if pair.source_side == "a" else (right, left)


def source_reason(pair):
    """"Left is the source: Right is Left upscaled 1.6×; an upscale adds no detail." from the pair's
    direction and its measured parameters."""
    source, derivative = _names(pair)
    kinds = [kind for kind in (pair.derivation or "").split("+") if kind]
    clauses = [derivation_words(kind, pair, source, derivative) for kind in kinds]
    return gettext("%(source)s is the source: %(how)s.") % {"source": source, "how": "; ".join(clauses)}


def _right_scale(pair):
    """The derivative's linear size relative to the source's."""
    scale = float((pair.relation_params or {}).get("scale") or 1.0)
    return scale if pair.source_side == "a" else (1.0 / scale if scale else 1.0)


def derivation_words(kind, pair, source, derivative):
    """One derivation in words, e.g. "Right is Left upscaled 1.6×; an upscale adds no detail"."""
    params = pair.relation_params or {}
    names = {"source": source, "derivative": derivative}
    if kind == "upscaled":
        return gettext("%(derivative)s is %(source)s upscaled %(factor)s×; an upscale adds no detail") % {
            **names,
            "factor": f"{_right_scale(pair):.2g}",
        }
    if kind == "downscaled":
        return gettext("%(derivative)s is %(source)s reduced to %(percent)s%% of its size") % {
            **names,
            "percent": round(100 * _right_scale(pair)),
        }
    if kind == "cropped":
        return gettext("%(derivative)s is a crop of %(source)s keeping %(percent)s%% of it") % {
            **names,
            "percent": round(100 * float(params.get("crop_area") or 1.0)),
        }
    if kind == "recompressed":
        qualities = params.get("jpeg_quality")
        if qualities:
            high, low = sorted(qualities, reverse=True)
            return gettext(
                "%(derivative)s is %(source)s re-encoded at a lower JPEG quality (about %(low)s against "
                "%(high)s)"
            ) % {**names, "low": low, "high": high}
        if params.get("replayed"):
            return gettext("%(derivative)s is %(source)s encoded again at another quality") % names
        return gettext("%(derivative)s is a lossy re-encoding of %(source)s") % names
    words = {
        "bordered": gettext("%(derivative)s is %(source)s with a border added"),
        "captioned": gettext("%(derivative)s is %(source)s with a caption strip added"),
        "greyscale": gettext("%(derivative)s is %(source)s converted to greyscale"),
        "skewed": gettext("%(derivative)s is %(source)s turned slightly, like a crooked scan"),
        "converted": gettext(
            "%(derivative)s is %(source)s converted to a lossless format: the same pixels, no more detail"
        ),
    }
    return words.get(kind, gettext("%(derivative)s was made from %(source)s")) % names
