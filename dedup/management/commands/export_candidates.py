import json

from django.core.management.base import BaseCommand
from django.utils import translation

from dedup import policy, sentences
from dedup.models import CandidatePair
from mastercopy import spreadsheet

# Outside tools rely on the first five columns and their names.
COLUMNS = [
    "left",
    "right",
    "tier",
    "relation",
    "score",
    "left_collection",
    "right_collection",
    "left_sha256",
    "right_sha256",
    "phash_distance",
    "dhash_distance",
    "orientation_distance",
    "border_distance",
    "crop_distance",
    "group",
    "explanation",
    "relation_params",
    "tier_reason",
    # Added after the others (issue 13): the pair screen's suggestion (dedup.policy.suggest_master).
    "suggested_master",
    "master_reason",
]


def rows(include_rejected=False):
    pairs = CandidatePair.objects.select_related(
        "image_a__collection", "image_b__collection", "image_a__record__collection", "image_b__record"
    ).order_by("pk")
    if not include_rejected:
        pairs = pairs.exclude(tier=CandidatePair.Tier.REJECTED)
    for pair in pairs.iterator(chunk_size=2000):
        a, b = pair.image_a, pair.image_b
        suggested = policy.suggest_master(pair)
        yield {
            "left": a.source_path,
            "right": b.source_path,
            "tier": pair.tier,
            "relation": pair.relation,
            "score": pair.score,
            "left_collection": a.collection.name,
            "right_collection": b.collection.name,
            "left_sha256": a.sha256,
            "right_sha256": b.sha256,
            "phash_distance": pair.phash_distance,
            "dhash_distance": pair.dhash_distance,
            "orientation_distance": pair.orientation_distance,
            "border_distance": pair.border_distance,
            "crop_distance": pair.crop_distance,
            "group": pair.group_id,
            "explanation": sentences.describe(pair, suggested.side),
            "relation_params": json.dumps(pair.relation_params, ensure_ascii=False, sort_keys=True),
            "tier_reason": pair.tier_reason,
            "suggested_master": suggested.side,
            "master_reason": str(suggested.reason),
        }


class Command(BaseCommand):
    help = "Export every candidate pair: left,right,tier,relation,score and the per-signal distances."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")
        parser.add_argument(
            "--include-rejected",
            action="store_true",
            help="also pairs that verification rejected (tier 'rejected'), for calibration",
        )

    def handle(self, *args, **options):
        with translation.override("en"):  # a contract for outside tools: one language, whoever runs it
            self._export(options)

    def _export(self, options):
        if options["output"]:
            out = open(options["output"], "w", newline="", encoding="utf-8")  # noqa: SIM115
        else:
            out, self.stdout.ending = self.stdout, ""
        try:
            if options["format"] == "csv":
                # File names come from uploads and are opened in spreadsheets: cells are neutralised.
                writer = spreadsheet.DictWriter(out, fieldnames=COLUMNS)
                writer.writeheader()
                writer.writerows(rows(options["include_rejected"]))
            else:
                json.dump(list(rows(options["include_rejected"])), out, ensure_ascii=False, indent=1)
                out.write("\n")
        finally:
            if options["output"]:
                out.close()
