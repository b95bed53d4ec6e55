"""The record page's version history, as an inclusion tag: the catalogue's template asks for it by name
({% load licensing %}{% record_history record %}), so catalogue's Python never imports licensing."""

from django import template

from catalogue import access

from ..history import timeline
from ..models import Licence

register = template.Library()


@register.inclusion_tag("licensing/_record_history.html", takes_context=True)
def record_history(context, record):
    user = context["request"].user
    licences = access.only_visible(Licence.objects.filter(record=record), user).order_by("licensed_on")
    return {"record": record, "events": timeline(record, user), "licences": list(licences[:50])}
