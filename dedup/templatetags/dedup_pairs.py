"""Dedup's parts of other apps' pages, so those apps need not import dedup's modules."""

from django import template

from dedup import sentences
from dedup.verification import open_problems

register = template.Library()


@register.inclusion_tag("dedup/_open_problems.html")
def open_problems_of(collection, limit=20):
    """The collection's pairs whose original storage could not open (for administrators)."""
    problems = open_problems(collection)
    return {"problems": problems[:limit], "count": problems.count()}


@register.filter
def relation_name(relation):
    """A relation ("resized+recompressed") in the reader's language."""
    return sentences.relation_name(relation)


@register.simple_tag
def pair_sentence(pair, master="left"):
    """The pair's sentence in the reader's language, told from the suggested master's side."""
    return sentences.describe(pair, master)


@register.filter
def tier_reason(text):
    """A pair's tier reason in the reader's language."""
    return sentences.tier_reason(text)
