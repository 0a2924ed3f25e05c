"""Order Automation: ordered rules (conditions -> actions) applied to incoming orders.

Conditions (all optional, all must hold): ``order_source`` (id), ``site_area`` (id), ``email``
("missing" | "invalid" | "present" | "unmatched": valid, but no active QBO customer of the order's
company has it), ``email_pattern`` (an RE2 regex, case-insensitive), ``total_min``,
``total_max`` (decimal strings), ``ship_country``. Actions: ``set_email``, ``set_push_method``
("invoice" | "sales_receipt"), ``set_customer`` (QBO Customer Id), ``set_default_item`` (QBO Item Id),
``hold`` (true). Rules run in ``position`` order against the order as earlier rules left it; a
matching rule with ``stop_processing`` ends the run. Each change is logged (OrderRuleLog).
"""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation

import re2
from django.db import transaction

from ledgerlink.core.models import AutomationRule, Order, OrderRuleLog, OrderSource, PushRequest, SiteArea
from ledgerlink.core.roles import can_see_company, limit_to_companies
from ledgerlink.domain.audit import actor_label_for, record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.healing.policies import defer_for_missing
from ledgerlink.domain.inputs import check_json, check_text
from ledgerlink.domain.mirror.lookups import MirrorLookups
from ledgerlink.domain.outbox.actions import cancel_request, requeue_request
from ledgerlink.domain.outbox.create import create_push_request
from ledgerlink.domain.outbox.selectors import last_failure_kind
from ledgerlink.domain.payloads.build import build_payload
from ledgerlink.domain.payloads.preflight import is_valid_email

# Patterns run with RE2 (google-re2): matching takes time linear in the email's length whatever the
# pattern, so no pattern can be slow (no backtracking). RE2 refuses what it cannot do in linear time
# (back-references, look-around) and patterns whose program would exceed PATTERN_MAX_MEM bytes.
MAX_PATTERN = 200
PATTERN_MAX_MEM = 1 << 20


def _pattern_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a refused pattern is the caller's 422, not a line on stderr
    options.max_mem = PATTERN_MAX_MEM
    return options


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str):
    """``pattern`` compiled by RE2, case-insensitive (raises ``re2.error``)."""
    return re2.compile(pattern, _pattern_options())


# Emails are at most 320 characters; the pattern never sees more.
MAX_MATCHED_EMAIL = 320

CONDITION_KEYS = ("order_source", "site_area", "email", "email_pattern", "total_min", "total_max", "ship_country")
ACTION_KEYS = ("set_email", "set_push_method", "set_customer", "set_default_item", "hold")
EMAIL_STATES = ("missing", "invalid", "present", "unmatched")
# action -> Order field it writes
ACTION_FIELDS = {
    "set_email": "email",
    "set_push_method": "push_method",
    "set_customer": "qbo_customer_id",
    "set_default_item": "default_item",
    "hold": "held",
}
_COUNTRY_ALIASES = [
    {"us", "usa", "united states", "united states of america"},
    {"gb", "uk", "united kingdom", "great britain"},
    {"ca", "can", "canada"},
    {"au", "aus", "australia"},
    {"de", "deu", "germany"},
    {"fr", "fra", "france"},
]


def _country_key(value: str) -> str:
    value = (value or "").strip().casefold()
    for group in _COUNTRY_ALIASES:
        if value in group:
            return sorted(group)[0]
    return value


def _decimal(value, field: str) -> Decimal:
    if isinstance(value, bool):
        raise ServiceError("must be a decimal number", field=field)
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ServiceError("must be a decimal number", field=field) from exc
    if not result.is_finite():
        raise ServiceError("must be a decimal number", field=field)
    return result


def _id(value, field: str, model) -> int:
    if isinstance(value, bool):
        raise ServiceError("must be an id", field=field)
    try:
        pk = int(value)
    except (TypeError, ValueError) as exc:
        raise ServiceError("must be an id", field=field) from exc
    if not model.objects.filter(pk=pk).exists():
        raise ServiceError(f"{model._meta.verbose_name} {pk} does not exist", field=field)
    return pk


def validate_rule(conditions, actions) -> tuple[dict, dict]:
    """Cleaned (conditions, actions), or ServiceError naming the field (``conditions.total_min``)."""
    if conditions is None:
        conditions = {}
    if not isinstance(conditions, dict):
        raise ServiceError("must be an object", field="conditions")
    if not isinstance(actions, dict):
        raise ServiceError("must be an object", field="actions")
    check_json(conditions, "conditions")
    check_json(actions, "actions")
    clean_c: dict = {}
    for key, value in conditions.items():
        field = f"conditions.{key}"
        if key not in CONDITION_KEYS:
            raise ServiceError(f"is not a known condition (known: {', '.join(CONDITION_KEYS)})", field=field)
        if value is None or value == "":
            continue
        if key == "order_source":
            clean_c[key] = _id(value, field, OrderSource)
        elif key == "site_area":
            clean_c[key] = _id(value, field, SiteArea)
        elif key == "email":
            if value not in EMAIL_STATES:
                raise ServiceError(f"must be one of {', '.join(EMAIL_STATES)}", field=field)
            clean_c[key] = value
        elif key == "email_pattern":
            if not isinstance(value, str) or len(value) > MAX_PATTERN:
                raise ServiceError(f"must be a regular expression of at most {MAX_PATTERN} characters", field=field)
            try:
                compile_pattern(value)
            except re2.error as exc:
                reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
                raise ServiceError(
                    f"is not a regular expression RE2 can run ({reason}): patterns run in linear time, so "
                    "back-references (\\1) and look-around ((?=...), (?!...)) are not available",
                    field=field,
                ) from exc
            clean_c[key] = value
        elif key in ("total_min", "total_max"):
            clean_c[key] = str(_decimal(value, field))
        elif key == "ship_country":
            if not isinstance(value, str) or len(value.strip()) > 100:
                raise ServiceError("must be a country code or name", field=field)
            clean_c[key] = value.strip()
    if "total_min" in clean_c and "total_max" in clean_c:
        if Decimal(clean_c["total_min"]) > Decimal(clean_c["total_max"]):
            raise ServiceError("must not be greater than total_max", field="conditions.total_min")

    clean_a: dict = {}
    for key, value in actions.items():
        field = f"actions.{key}"
        if key not in ACTION_KEYS:
            raise ServiceError(f"is not a known action (known: {', '.join(ACTION_KEYS)})", field=field)
        if key == "set_email":
            if not isinstance(value, str) or not is_valid_email(value):
                raise ServiceError("must be a valid email address", field=field)
            clean_a[key] = value.strip()
        elif key == "set_push_method":
            if value not in SiteArea.PushMethod.values:
                raise ServiceError(f"must be one of {', '.join(SiteArea.PushMethod.values)}", field=field)
            clean_a[key] = value
        elif key in ("set_customer", "set_default_item"):
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > 32:
                raise ServiceError("must be a QuickBooks Id (text of at most 32 characters)", field=field)
            clean_a[key] = value.strip()
        elif key == "hold":
            if value is not True:
                raise ServiceError("must be true (leave it out to not hold)", field=field)
            clean_a[key] = True
    if not clean_a:
        raise ServiceError("must have at least one action", field="actions")
    return clean_c, clean_a


# --- CRUD --------------------------------------------------------------------------------------------

_RULE_FIELDS = ("name", "position", "enabled", "stop_processing", "conditions", "actions")


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ServiceError("is required", field="name")
    check_text(name, "name")
    if len(name.strip()) > 200:
        raise ServiceError("must be at most 200 characters", field="name")
    return name.strip()


def create_rule(
    *,
    name: str,
    conditions: dict | None = None,
    actions: dict,
    position: int | None = None,
    enabled: bool = True,
    stop_processing: bool = False,
    actor=None,
    actor_label: str | None = None,
) -> AutomationRule:
    name = _check_name(name)
    conditions, actions = validate_rule(conditions or {}, actions)
    with transaction.atomic():
        if position is None:
            last = AutomationRule.objects.order_by("-position").values_list("position", flat=True).first()
            position = (last + 10) if last is not None else 10
        rule = AutomationRule.objects.create(
            name=name,
            position=int(position),
            enabled=bool(enabled),
            stop_processing=bool(stop_processing),
            conditions=conditions,
            actions=actions,
        )
        record_audit(
            "rule.create",
            actor=actor,
            actor_label=actor_label,
            obj=rule,
            name=name,
            conditions=conditions,
            actions=actions,
            position=rule.position,
        )
    return rule


def _get_rule(rule_id: int, *, lock: bool = False) -> AutomationRule:
    qs = AutomationRule.objects.select_for_update() if lock else AutomationRule.objects
    rule = qs.filter(pk=rule_id).first()
    if rule is None:
        raise ServiceError(f"automation rule {rule_id} does not exist", field="id", status=404)
    return rule


def update_rule(rule_id: int, *, actor=None, actor_label: str | None = None, **changes) -> AutomationRule:
    unknown = set(changes) - set(_RULE_FIELDS)
    if unknown:
        raise ServiceError("is not a rule field", field=sorted(unknown)[0])
    with transaction.atomic():
        rule = _get_rule(rule_id, lock=True)
        if "name" in changes:
            changes["name"] = _check_name(changes["name"])
        if "conditions" in changes or "actions" in changes:
            conditions, actions = validate_rule(
                changes.get("conditions", rule.conditions), changes.get("actions", rule.actions)
            )
            changes["conditions"], changes["actions"] = conditions, actions
        before = {key: getattr(rule, key) for key in changes}
        for key, value in changes.items():
            setattr(rule, key, value)
        rule.save()
        record_audit(
            "rule.update",
            actor=actor,
            actor_label=actor_label,
            obj=rule,
            before=before,
            after={key: getattr(rule, key) for key in changes},
        )
    return rule


def delete_rule(rule_id: int, *, actor=None, actor_label: str | None = None) -> None:
    with transaction.atomic():
        rule = _get_rule(rule_id, lock=True)
        record_audit(
            "rule.delete",
            actor=actor,
            actor_label=actor_label,
            obj=rule,
            name=rule.name,
            conditions=rule.conditions,
            actions=rule.actions,
        )
        rule.delete()


# --- evaluation -------------------------------------------------------------------------------------


def rule_matches(conditions: dict, order: Order, lookups: MirrorLookups | None = None) -> bool:
    """Whether ``order`` (as earlier rules left it) meets every condition; ``lookups`` answers
    ``email: "unmatched"`` from the customer mirror (a batch's, else asked live)."""
    if "order_source" in conditions and order.order_source_id != int(conditions["order_source"]):
        return False
    if "site_area" in conditions and order.order_source.site_area_id != int(conditions["site_area"]):
        return False
    email = (order.email or "").strip()
    state = conditions.get("email")
    if state == "missing" and email:
        return False
    if state == "present" and not email:
        return False
    if state == "invalid" and (not email or is_valid_email(email)):
        return False
    if state == "unmatched" and (
        not email or not is_valid_email(email)
        or (lookups or MirrorLookups()).customer_for_email(order.order_source.site_area.company_id, email)
        is not None
    ):
        return False
    pattern = conditions.get("email_pattern")
    if pattern:
        try:
            compiled = compile_pattern(pattern)
        except re2.error:
            return False  # a rule saved before RE2 with a pattern it cannot run matches nothing
        if compiled.search(email[:MAX_MATCHED_EMAIL]) is None:
            return False
    total = Decimal(order.total or 0)
    if "total_min" in conditions and total < Decimal(conditions["total_min"]):
        return False
    if "total_max" in conditions and total > Decimal(conditions["total_max"]):
        return False
    if "ship_country" in conditions and _country_key(order.ship_country) != _country_key(conditions["ship_country"]):
        return False
    return True


def _changes(actions: dict, order: Order) -> list[tuple[str, object, object]]:
    """(order field, old, new) for each action that would change the order."""
    out = []
    for action in ACTION_KEYS:  # a fixed order: PostgreSQL's jsonb does not keep key order
        if action not in actions:
            continue
        field, value = ACTION_FIELDS[action], actions[action]
        old = getattr(order, field)
        if old != value:
            out.append((field, old, value))
    return out


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def enabled_rules() -> list[AutomationRule]:
    """The enabled rules in the order they run (read once per batch by ingest)."""
    return list(AutomationRule.objects.filter(enabled=True).order_by("position", "id"))


def apply_rules(
    order: Order, *, rules: list[AutomationRule] | None = None, save: bool = True,
    lookups: MirrorLookups | None = None,
) -> list[OrderRuleLog]:
    """Apply the enabled rules to ``order`` (in memory, then saved) and log every change."""
    logs: list[OrderRuleLog] = []
    status_before = order.status
    for rule in enabled_rules() if rules is None else rules:
        if not rule_matches(rule.conditions or {}, order, lookups):
            continue
        for field, old, new in _changes(rule.actions or {}, order):
            setattr(order, field, new)
            logs.append(
                OrderRuleLog(order=order, rule=rule, rule_name=rule.name, field=field,
                             old_value=_text(old), new_value=_text(new))
            )
        if rule.stop_processing:
            break
    if order.held and order.status in (Order.Status.RECEIVED, Order.Status.FAILED):
        order.status = Order.Status.HELD
    if save and (logs or order.status != status_before):  # nothing changed: nothing to write
        order.save()
        for log in logs:
            log.order = order
        OrderRuleLog.objects.bulk_create(logs)
    return logs


def preview_rule(conditions, actions, last_n: int = 1000, *, actor=None) -> int:
    """How many of the last ``last_n`` orders this rule (alone) would change; of the companies
    ``actor`` may see (access per company)."""
    conditions, actions = validate_rule(conditions, actions)
    last_n = max(1, min(int(last_n), 10000))
    count = 0
    qs = limit_to_companies(Order.objects.select_related("order_source__site_area"), actor,
                            "order_source__site_area__company_id")
    orders = list(qs.order_by("-id")[:last_n])
    lookups = MirrorLookups()
    if conditions.get("email") == "unmatched":
        by_company: dict[int, list[str]] = {}
        for order in orders:
            by_company.setdefault(order.order_source.site_area.company_id, []).append(order.email)
        lookups.preload(emails=by_company)
    for order in orders:
        if rule_matches(conditions, order, lookups) and _changes(actions, order):
            count += 1
    return count


# Which orders a "Make this a rule" rule should change, by the failure it fixes.
RULE_EMAIL_CONDITION_TEXT = {
    "missing": "has no email",
    "invalid": "has an invalid email",
    "unmatched": "has an email no QuickBooks customer has",
}


def propose_rule_for_request(push_request: PushRequest, email: str) -> dict:
    """"Make this a rule": the Order Automation rule that would have prevented this request's failure,
    as ``{"name", "conditions", "actions", "when"}``; nothing is written. The rule sets ``email`` (which
    must be valid) only on the orders of the request's order source that fail the same way: no email
    or an invalid one, or (for CustomerRef is required) an email no QBO customer has; never on every
    order of the source, which would overwrite real buyers' emails."""
    email = (email or "").strip()
    if not push_request.order_source_id:
        raise ServiceError("the request has no order source to make a rule for", field="order_source")
    if not is_valid_email(email):
        raise ServiceError("a rule can set only a valid email address", field="email")
    kind = last_failure_kind(push_request)
    order = push_request.order
    if kind == "invalid_email":
        state = "invalid"
    elif kind == "customer_ref_required":
        state = "unmatched" if order is not None and (order.email or "").strip() else "missing"
    else:
        raise ServiceError(
            "a rule fits only a failure an email fixes (CustomerRef is required, Invalid Email Address format)",
            field="error_kind",
        )
    source = push_request.order_source
    when = RULE_EMAIL_CONDITION_TEXT[state]
    return {
        "name": f"Set email {email} when an order from {source.name} {when}"[:200],
        "conditions": {"order_source": source.pk, "email": state},
        "actions": {"set_email": email},
        "when": when,
    }


def run_rules_on_order(order_id: int, actor=None, *, actor_label: str | None = None) -> Order:
    """Re-apply the rules to a held or failed order. If it is no longer held, build a fresh payload and
    either create its push request, or add it as a new revision of its failed request and re-queue."""
    label = actor_label or actor_label_for(actor)
    with transaction.atomic():
        order = (
            Order.objects.select_for_update()
            .select_related("order_source__site_area__company")
            .filter(pk=order_id)
            .first()
        )
        if order is None or not can_see_company(actor, order.order_source.site_area.company_id):
            raise ServiceError(f"order {order_id} does not exist", field="id", status=404)
        latest = order.push_requests.order_by("-id").first()
        if not order.held and latest is not None and latest.state not in (
            PushRequest.State.FAILED,
            PushRequest.State.CANCELLED,
        ):
            raise ServiceError(
                f"order {order.pk} is not held and its request is {latest.state}; rules run on held or "
                "failed orders only",
                field="id",
                status=409,
            )
        was_held = order.held
        order.held = False  # a hold comes only from rules: re-decide it
        logs = apply_rules(order, save=False)
        if was_held and not order.held:
            logs.insert(
                0,
                OrderRuleLog(order=order, rule=None, rule_name="(rules re-run: no rule holds it)",
                             field="held", old_value="true", new_value="false"),
            )
        if order.held:
            order.status = Order.Status.HELD
        order.save()
        OrderRuleLog.objects.bulk_create(logs)
        record_audit(
            "order.run_rules",
            actor=actor,
            actor_label=label,
            obj=order,
            changes=[{"field": log.field, "old": log.old_value, "new": log.new_value} for log in logs],
            held=order.held,
        )
        if order.held:
            return order
        kind, payload = build_payload(order)
        company = order.order_source.site_area.company
        if latest is None or latest.state == PushRequest.State.SUCCEEDED:
            if latest is not None:  # pragma: no cover - guarded above
                raise ServiceError("the order is already in QuickBooks", field="id", status=409)
            create_push_request(
                company=company, kind=kind, payload=payload, order=order, actor=actor, actor_label=label,
                note="rules re-run", on_preflight_error=defer_for_missing,
            )
        elif latest.kind != kind or latest.company_id != company.pk:
            # An edit never changes the kind of document: the old request (which created nothing) is
            # cancelled and a new one takes its place.
            if latest.state != PushRequest.State.CANCELLED:
                cancel_request(latest.pk, note=f"superseded: push method is now {kind}", actor=actor,
                               actor_label=label)
            create_push_request(
                company=company, kind=kind, payload=payload, order=order, actor=actor, actor_label=label,
                note="rules re-run", on_preflight_error=defer_for_missing,
            )
        else:
            requeue_request(latest.pk, payload=payload, note="rules re-run", actor=actor, actor_label=label)
        order.refresh_from_db()
    return order
