"""Dedup's parts of other apps' pages, so those apps need not import dedup's modules."""

from django import template

from dedup.verification import open_problems

register = template.Library()


@register.inclusion_tag("dedup/_open_problems.html")
def open_problems_of(collection, limit=20):
    """The collection's pairs whose original storage could not open (for administrators)."""
    problems = open_problems(collection)
    return {"problems": problems[:limit], "count": problems.count()}
