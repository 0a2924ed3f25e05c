"""Order Automation: the rule list and the rule editor with its preview."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from ledgerlink.core.models import AutomationRule, OrderSource, SiteArea
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.automation import (
    ACTION_KEYS,
    CONDITION_KEYS,
    EMAIL_STATES,
    create_rule,
    delete_rule,
    preview_rule,
    update_rule,
)
from ledgerlink.domain.paging import parse_int
from ledgerlink.web.access import role_required

PREVIEW_LAST_N = 1000
CONDITION_FIELDS = CONDITION_KEYS
ACTION_FIELDS = tuple(key for key in ACTION_KEYS if key != "hold")  # "hold" is the form's checkbox


def rule_form_from(rule: AutomationRule | None) -> dict:
    form = {"name": "", "position": "", "enabled": True, "stop_processing": False, "hold": False}
    for key in CONDITION_FIELDS + ACTION_FIELDS:
        form[key] = ""
    if rule is not None:
        form.update(name=rule.name, position=rule.position, enabled=rule.enabled, stop_processing=rule.stop_processing)
        for key in CONDITION_FIELDS:
            value = (rule.conditions or {}).get(key)
            form[key] = "" if value is None else str(value)
        for key in ACTION_FIELDS:
            value = (rule.actions or {}).get(key)
            form[key] = "" if value is None else str(value)
        form["hold"] = bool((rule.actions or {}).get("hold"))
    return form


def rule_form_from_post(post) -> dict:
    form = {key: (post.get(key) or "").strip() for key in ("name", "position") + CONDITION_FIELDS + ACTION_FIELDS}
    form["enabled"] = post.get("enabled") == "on"
    form["stop_processing"] = post.get("stop_processing") == "on"
    form["hold"] = post.get("hold") == "on"
    return form


def conditions_actions(form: dict) -> tuple[dict, dict]:
    conditions = {}
    for key in CONDITION_FIELDS:
        value = form.get(key, "")
        if value == "":
            continue
        if key in ("order_source", "site_area"):
            conditions[key] = parse_int(value) or value
        else:
            conditions[key] = value
    actions = {key: form[key] for key in ACTION_FIELDS if form.get(key)}
    if form.get("hold"):
        actions["hold"] = True
    return conditions, actions


def _choices() -> dict:
    return {
        "order_sources": list(OrderSource.objects.select_related("site_area").order_by("name")),
        "site_areas": list(SiteArea.objects.order_by("name")),
        "email_choices": [(state, state) for state in EMAIL_STATES],
        "push_methods": SiteArea.PushMethod.choices,
        "last_n": PREVIEW_LAST_N,
    }


def render_proposal(request, proposal: dict, *, source_request_id: int):
    """"Make this a rule": the rule editor filled with the proposed rule and its preview count, posting
    to New rule; nothing is saved until the person presses Save rule."""
    rule = AutomationRule(name=proposal["name"], conditions=proposal["conditions"], actions=proposal["actions"])
    form = rule_form_from(rule)
    form["position"] = ""
    context = {
        "rule": None,
        **_choices(),
        "form": form,
        "form_action": reverse("web:rule_new"),
        "proposed_from": source_request_id,
        "preview_count": preview_rule(proposal["conditions"], proposal["actions"], last_n=PREVIEW_LAST_N,
                                      actor=request.user),
    }
    return render(request, "web/rule_edit.html", context)


@role_required("viewer")
def rules(request):
    sources = {s.id: s.name for s in OrderSource.objects.only("id", "name")}
    areas = {s.id: s.name for s in SiteArea.objects.only("id", "name")}
    rows = []
    for rule in AutomationRule.objects.order_by("position", "id"):
        rows.append({"rule": rule, "summary": summarise(rule.conditions, rule.actions, sources, areas)})
    return render(request, "web/rules.html", {"rows": rows})


def summarise(conditions: dict, actions: dict, sources: dict, areas: dict) -> dict:
    when = []
    for key, value in (conditions or {}).items():
        if key == "order_source":
            when.append(f"order source is {sources.get(value, value)}")
        elif key == "site_area":
            when.append(f"site area is {areas.get(value, value)}")
        elif key == "email":
            when.append(f"email is {value}")
        else:
            when.append(f"{key.replace('_', ' ')} = {value}")
    then = []
    for key, value in (actions or {}).items():
        if key == "hold":
            then.append("hold the order")
        else:
            then.append(f"{key.replace('_', ' ')} → {value}")
    return {"when": " and ".join(when) or "every order", "then": "; ".join(then)}


def _editor(request, rule: AutomationRule | None):
    context = {"rule": rule, **_choices()}
    if request.method == "GET":
        context["form"] = rule_form_from(rule)
        return render(request, "web/rule_edit.html", context)
    action = request.POST.get("action", "save")
    if action == "delete" and rule is not None:
        try:
            delete_rule(rule.pk, actor=request.user)
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("web:rule_edit", pk=rule.pk)
        messages.success(request, f"Rule “{rule.name}” deleted.")
        return redirect("web:rules")
    form = rule_form_from_post(request.POST)
    context["form"] = form
    conditions, actions = conditions_actions(form)
    if action == "preview":
        try:
            context["preview_count"] = preview_rule(conditions, actions, last_n=PREVIEW_LAST_N, actor=request.user)
        except ServiceError as exc:
            context["service_error"] = exc
        return render(request, "web/rule_edit.html", context)
    position = parse_int(form["position"]) if form["position"] else None
    fields = {
        "name": form["name"],
        "conditions": conditions,
        "actions": actions,
        "enabled": form["enabled"],
        "stop_processing": form["stop_processing"],
    }
    try:
        if rule is None:
            saved = create_rule(position=position, actor=request.user, **fields)
        else:
            if position is not None:
                fields["position"] = position
            saved = update_rule(rule.pk, actor=request.user, **fields)
    except ServiceError as exc:
        context["service_error"] = exc
        return render(request, "web/rule_edit.html", context, status=422)
    messages.success(request, f"Rule “{saved.name}” saved.")
    return redirect("web:rule_edit", pk=saved.pk)


@role_required("admin", write="admin")
def rule_new(request):
    return _editor(request, None)


@role_required("viewer", write="admin")
def rule_edit(request, pk: int):
    rule = get_object_or_404(AutomationRule, pk=pk)
    return _editor(request, rule)
