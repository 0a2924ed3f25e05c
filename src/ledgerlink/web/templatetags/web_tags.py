"""Small template helpers. Nothing here marks text safe: the template engine escapes everything."""

from __future__ import annotations

from django import template

from ledgerlink.core.models import Company
from ledgerlink.core.roles import has_role, limit_to_companies, role_of
from ledgerlink.domain.inputs import has_surrogate

register = template.Library()

TAB_OF = {
    "dashboard": "dashboard",
    "orders": "orders",
    "order_detail": "orders",
    "order_cancel": "orders",
    "customers": "customers",
    "requests_pending": "pending",
    "requests_completed": "completed",
    "request_detail": "request",
    "request_similar": "request",
    "rules": "automation",
    "rule_new": "automation",
    "rule_edit": "automation",
    "setup": "setup",
    "reconciliation": "reconciliation",
    "site_area_new": "setup",
    "site_area_edit": "setup",
    "order_source_new": "setup",
    "order_source_edit": "setup",
    "connections": "connections",
    "users": "users",
    "user_new": "users",
}


@register.filter
def role(user) -> str:
    return role_of(user) or ""


@register.filter
def has(user, needed: str) -> bool:
    return has_role(user, needed)


@register.simple_tag(takes_context=True)
def active_tab(context) -> str:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    return TAB_OF.get(getattr(match, "url_name", "") or "", "")


@register.filter
def get(mapping, key):
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""


@register.filter
def duration(td) -> str:
    if td is None:
        return ""
    seconds = int(td.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    return f"{hours // 24}d {hours % 24}h"


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current list query string with some keys changed (None/'' removes a key)."""
    from urllib.parse import urlencode

    query = dict(context.get("query") or {})
    for key, value in changes.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    return urlencode(query)


@register.filter
def pretty_json(value) -> str:
    """Pretty JSON as plain text (escaped by the engine when rendered)."""
    import json

    text = json.dumps(value, indent=2, ensure_ascii=False)
    # a lone surrogate stored before input was checked for them stays escaped: the page must still show
    return json.dumps(value, indent=2) if has_surrogate(text) else text


@register.inclusion_tag("web/partials/reconnect_banner.html", takes_context=True)
def reconnect_banner(context) -> dict:
    """The companies that need reconnecting, on every page for operators and admins (one query)."""
    user = context.get("user")
    if user is None or not has_role(user, "operator"):
        return {"companies": []}
    companies = list(limit_to_companies(
        Company.objects.filter(status=Company.Status.NEEDS_RECONNECT).only("id", "name").order_by("name"),
        user, "id",
    ))
    return {"companies": companies, "is_admin": has_role(user, "admin")}
