"""Dedup's parts of the collection page (catalogue's template loads these; catalogue's code imports
nothing of dedup): the processing progress and the deduplication policy with its form."""

from django import template

from dedup import policy as dedup_policy
from dedup.fingerprinting import progress
from dedup.forms import PolicyForm

register = template.Library()


@register.inclusion_tag("dedup/_progress.html")
def collection_progress(collection):
    return {"collection": collection, "progress": progress(collection)}


@register.inclusion_tag("dedup/_collection_policy.html", takes_context=True)
def collection_policy(context, collection):
    policy = dedup_policy.for_collection(collection)
    can_import = context.get("can_import", False)
    return {
        "collection": collection,
        "policy": policy,
        "approval_rules": [
            dedup_policy.APPROVAL_RULES[rule]
            for rule in policy["approval_rules"]
            if rule in dedup_policy.APPROVAL_RULES
        ],
        "can_import": can_import,
        "policy_form": PolicyForm(initial=policy) if can_import else None,
        "csrf_token": context.get("csrf_token"),
    }
