"""A pair's relation and its sentence in the reader's language, built when shown from the relation's
labels and the measured parameters verification stored (CandidatePair.relation, relation_params), never
from the English sentence stored beside them (CandidatePair.explanation, dedup.verify's own words, kept
for rows verified before and for what cannot be rebuilt: "different" pairs, failures).

The sentence is told from the suggested master: "Right is Left cropped ..." only when Left is the one
suggested, and "Left is Right without its border ..." when Right is. Verification measures Right
against Left; told from Right, every measure is turned around (a scale inverts, a turn goes back, the
side with the border or the colour is the other one).
"""

import re

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# The relation vocabulary (dedup.verify.LABELS) as people read it.
RELATION_NAMES = {
    "identical": _("identical"),
    "pixel-identical": _("pixel-identical"),
    "resized": _("resized"),
    "upscaled": _("upscaled"),
    "recompressed": _("recompressed"),
    "format-changed": _("format changed"),
    "colour-changed": _("colour changed"),
    "greyscale": _("greyscale"),
    "rotated": _("rotated"),
    "mirrored": _("mirrored"),
    "cropped": _("cropped"),
    "bordered": _("bordered"),
    "overlay": _("overlay"),
    "skewed": _("skewed"),
    "different": _("different"),
}
# dedup.verify's colour words (params["colour_changes"]), and each one told the other way round.
COLOUR_WORDS = {
    "brighter": _("brighter"),
    "darker": _("darker"),
    "more saturated": _("more saturated"),
    "less saturated": _("less saturated"),
    "warmer": _("warmer"),
    "cooler": _("cooler"),
}
COLOUR_OPPOSITES = {
    "brighter": "darker",
    "darker": "brighter",
    "more saturated": "less saturated",
    "less saturated": "more saturated",
    "warmer": "cooler",
    "cooler": "warmer",
}
BORDER_COLOURS = {"white": _("white"), "black": _("black"), "grey": _("grey")}
SCALE_TOL = 0.03  # dedup.verify.SCALE_TOL: within it, the same resolution
# The parameter each label's words need; a row without it (stored by an older verifier) keeps its
# stored sentence rather than be told wrongly (a crop as "the same picture").
NEEDS = {"cropped": "crop_of", "bordered": "border", "greyscale": "greyscale", "rotated": "angle"}


def relation_name(relation):
    """ "resized+recompressed" as "resized + recompressed" in the reader's language; "" stays ""."""
    labels = [label for label in (relation or "").split("+") if label]
    return gettext(" + ").join(str(RELATION_NAMES.get(label, label)) for label in labels)


def side_name(side):
    return gettext("Left") if side == "left" else gettext("Right")


def _other(side):
    return "right" if side == "left" else "left"


def _pct(value):
    return f"{round(float(value) * 100)}%"


def describe(pair, master="left"):
    """The pair's sentence in the active language, told from master ("left" or "right": the side the
    screen suggests as master), or the stored English sentence when the parameters cannot rebuild it."""
    labels = [label for label in (pair.relation or "").split("+") if label]
    params = pair.relation_params or {}
    if not labels or "different" in labels:
        return pair.explanation or tier_reason(pair.tier_reason)
    base = master if master in ("left", "right") else "left"
    names = {"base": side_name(base), "other": side_name(_other(base))}
    try:
        if "inferred_through" in params:
            return _inferred(params)
        if "identical" in labels:
            return gettext("%(other)s is a byte-for-byte identical copy of %(base)s.") % names
        if "pixel-identical" in labels:
            return _pixel_identical(pair, labels, params, base, names)
        if any(label in NEEDS and NEEDS[label] not in params for label in labels):
            return pair.explanation or tier_reason(pair.tier_reason)
        return _changed(labels, params, base, names)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
        return pair.explanation or tier_reason(pair.tier_reason)  # stored before these parameters


def _inferred(params):
    pairs = params.get("from_pairs") or []
    relations = params.get("from_relations")
    if relations and len(relations) == len(pairs) == 2:
        return gettext(
            "Not compared directly: both show the picture of image %(hub)s "
            "(pair %(first)s: %(first_relation)s; pair %(second)s: %(second_relation)s)."
        ) % {
            "hub": params["inferred_through"],
            "first": pairs[0],
            "second": pairs[1],
            "first_relation": relation_name(relations[0]),
            "second_relation": relation_name(relations[1]),
        }
    return gettext("Not compared directly: both show the picture of image %(hub)s (pairs %(pairs)s).") % {
        "hub": params["inferred_through"],
        "pairs": ", ".join(str(pk) for pk in pairs),
    }


def _formats(params, base):
    formats = params.get("formats") or []
    if len(formats) != 2:
        return None
    left, right = formats
    return (left, right) if base == "left" else (right, left)


def _pixel_identical(pair, labels, params, base, names):
    width, height = pair.image_a.width, pair.image_a.height
    text = gettext("%(other)s has exactly the same pixels as %(base)s (%(size)s, colours unchanged)") % {
        **names,
        "size": f"{width}×{height}",
    }
    formats = _formats(params, base)
    if "format-changed" in labels and formats and formats[0] != formats[1]:
        return gettext("%(text)s in another file, converted from %(from)s to %(to)s.") % {
            "text": text,
            "from": formats[0],
            "to": formats[1],
        }
    return gettext("%(text)s in another file.") % {"text": text}


def _head(params, base, names):
    crop_of = params.get("crop_of")
    if crop_of in ("left", "right"):
        box = params["crop_box"]
        figures = {
            **names,
            "area": _pct(params["crop_area"]),
            "box": f"{_pct(box[0])}–{_pct(box[2])} × {_pct(box[1])}–{_pct(box[3])}",
        }
        if crop_of == base:  # the other is cut from the master
            return (
                gettext("%(other)s is a crop of %(base)s keeping %(area)s of its area (box %(box)s)")
                % figures
            )
        return (
            gettext(
                "%(other)s shows more than %(base)s: %(base)s is a crop of %(other)s keeping %(area)s "
                "of its area (box %(box)s)"
            )
            % figures
        )
    if crop_of == "both":
        return gettext("%(other)s and %(base)s are overlapping crops of one picture") % names
    return gettext("%(other)s is the same picture as %(base)s") % names


def _turn(angle, base, mirrored):
    """The clockwise turn that takes the master to the other (verification's is Left to Right). Turned
    back, a turn goes the other way; with a mirror it does not (a mirror, turned by a, undone is the
    mirror turned by a again)."""
    angle = int(angle) % 360
    return angle if base == "left" or mirrored else (360 - angle) % 360


def _details(labels, params, base, names):
    parts = []
    if "rotated" in labels and "angle" in params:
        turn = _turn(params["angle"], base, "mirrored" in labels)
        if turn == 180:
            parts.append(gettext("rotated 180°"))
        elif turn:
            parts.append(gettext("rotated %(angle)s° clockwise") % {"angle": turn})
    if "mirrored" in labels:
        parts.append(gettext("mirrored left-to-right"))
    if "skewed" in labels:
        tilt = float(params.get("skew_angle", params.get("angle", 0.0)))
        tilt = tilt if base == "left" or "mirrored" in labels else -tilt
        words = (
            gettext("tilted %(angle)s° clockwise") if tilt > 0 else gettext("tilted %(angle)s° anticlockwise")
        )
        parts.append(words % {"angle": f"{abs(tilt):.1f}"})
    if "bordered" in labels:
        widths = ", ".join(_pct(v) for v in params["border"])
        figures = {
            **names,
            "colour": str(BORDER_COLOURS.get(params.get("border_colour"), params.get("border_colour", ""))),
            "widths": widths,
        }
        if params.get("border_on", "right") == base:
            parts.append(
                gettext("without the %(colour)s border %(base)s has (%(widths)s left/top/right/bottom)")
                % figures
            )
        else:
            parts.append(
                gettext("with a %(colour)s border added (%(widths)s left/top/right/bottom)") % figures
            )
    if "overlay" in labels:
        if params.get("overlay") == "caption strip":
            bottom = float(params["overlay_box"][3]) >= 0.99
            if params.get("overlay_on", "right") == base:
                words = (
                    gettext("without the caption strip %(base)s has at the bottom")
                    if bottom
                    else gettext("without the caption strip %(base)s has at the top")
                )
            else:
                words = (
                    gettext("with a caption strip added at the bottom")
                    if bottom
                    else gettext("with a caption strip added at the top")
                )
            parts.append(words % names)
        else:
            parts.append(gettext("with a local difference such as a watermark or text"))
    if "recompressed" in labels:
        parts.append(gettext("re-encoded with different compression"))
    formats = _formats(params, base)
    if "format-changed" in labels and formats:
        parts.append(gettext("converted from %(from)s to %(to)s") % {"from": formats[0], "to": formats[1]})
    if "exif_orientation" in params and not parts:
        parts.append(gettext("stored turned with an EXIF orientation tag"))
    return parts


def _resolution(params, base):
    scale = float(params.get("scale", 1.0))
    if base == "right":
        scale = 1.0 / scale
    if abs(scale - 1.0) <= SCALE_TOL:
        return gettext("at the same resolution")
    return gettext("at %(scale)s× the resolution") % {"scale": f"{scale:.2g}"}


def _colour(labels, params, base, names):
    grey = params.get("greyscale")
    if "greyscale" in labels and grey in ("left", "right"):
        if grey == base:
            return gettext("in colour where %(base)s is greyscale") % names
        return gettext("converted to greyscale")
    changes = params.get("colour_changes")
    if changes:
        if base == "right":
            changes = [COLOUR_OPPOSITES.get(change, change) for change in changes]
        words = gettext(", ").join(str(COLOUR_WORDS.get(change, change)) for change in changes)
        return gettext("colours changed (%(changes)s)") % {"changes": words}
    if "colour-changed" in labels:
        return gettext("colours changed")
    return gettext("colours unchanged")


def _changed(labels, params, base, names):
    head = _head(params, base, names)
    parts = _details(labels, params, base, names)
    parts.append(_resolution(params, base))
    return gettext("%(head)s, %(details)s; %(colour)s.") % {
        "head": head,
        "details": gettext(", ").join(parts),
        "colour": _colour(labels, params, base, names),
    }


# The tier rules' reasons (dedup.tiers, plain Python: stored in English) are made of these fixed pieces,
# joined by "; " and ", but ", with a few measured ones matched below; shown in the reader's language
# piece by piece, and any piece not known (a newer or an older wording) as stored.
REASON_PIECES = {
    "byte-identical files": _("byte-identical files"),
    "pixel-identical images": _("pixel-identical images"),
    "verification found different photographs": _("verification found different photographs"),
    "the records' rights/licence differ": _("the records' rights/licence differ"),
    "the records' credit lines differ": _("the records' credit lines differ"),
    "the collections belong to different owners": _("the collections belong to different owners"),
    "the records' rights/licence are the same text in another script": _(
        "the records' rights/licence are the same text in another script"
    ),
    "the records' credit lines are the same text in another script": _(
        "the records' credit lines are the same text in another script"
    ),
    "the collections' owners are the same name in another script": _(
        "the collections' owners are the same name in another script"
    ),
    "automatic settling is switched off for this collection": _(
        "automatic settling is switched off for this collection"
    ),
    "both records are in reference collections, which are never superseded": _(
        "both records are in reference collections, which are never superseded"
    ),
    "a person must compare": _("a person must compare"),
}
_PROBABLE = re.compile(r"^probable match: (?P<relation>[\w+-]+)$")
_INFERRED = re.compile(r"^inferred through image (?P<hub>\d+): (?P<rest>.*)$", re.S)
_AUTO_FROM = re.compile(
    r"^(?P<relation>[\w+-]+) at score (?P<score>[\d.]+), settled automatically from (?P<start>[\d.]+) "
    r"on calibration evidence$"
)
_CUT_OFF = re.compile(r"^score (?P<score>[\d.]+) below the review cut-off (?P<cut>[\d.]+)$")


def tier_reason(text):
    """A pair's tier reason (CandidatePair.tier_reason) in the reader's language."""
    if not text:
        return ""
    if match := _INFERRED.match(text):
        return gettext("inferred through image %(hub)s: %(reason)s") % {
            "hub": match["hub"],
            "reason": tier_reason(match["rest"]),
        }
    parts = re.split(r"(; |, but )", text)
    return "".join(_reason_piece(piece) for piece in parts)


def _reason_piece(piece):
    if piece == "; ":
        return gettext("; ")
    if piece == ", but ":
        return gettext(", but ")
    if piece in REASON_PIECES:
        return str(REASON_PIECES[piece])
    if match := _PROBABLE.match(piece):
        name = relation_name(match["relation"]) if match["relation"] != "similar" else gettext("similar")
        return gettext("probable match: %(relation)s") % {"relation": name}
    if match := _AUTO_FROM.match(piece):
        return gettext(
            "%(relation)s at score %(score)s, settled automatically from %(start)s on calibration evidence"
        ) % {"relation": relation_name(match["relation"]), "score": match["score"], "start": match["start"]}
    if match := _CUT_OFF.match(piece):
        return gettext("score %(score)s below the review cut-off %(cut)s") % {
            "score": match["score"],
            "cut": match["cut"],
        }
    return piece
