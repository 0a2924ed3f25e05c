"""Order sources: the sales channels, each posting through one site area. The API and the admin
area's Set-up page both write through these; ingest finds an order's source with
``resolve_order_source``."""

from __future__ import annotations

from django.db import transaction

from ledgerlink.core.models import OrderSource, SiteArea
from ledgerlink.core.roles import can_see_company
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import check_text, clean_text, has_surrogate


def _check_value(value) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ServiceError("is required", field="order_source")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ServiceError("must be an order source id or name", field="order_source")
    check_text(value, "order_source")


def resolve_order_source(value) -> OrderSource:
    """An order source by id (int or digits) or by name."""
    _check_value(value)
    qs = OrderSource.objects.select_related("site_area__company")
    source = None
    if isinstance(value, int):
        source = qs.filter(pk=value).first()
    else:
        source = qs.filter(name=value.strip()).first()
        if source is None and value.strip().isdigit():
            source = qs.filter(pk=int(value.strip())).first()
    if source is None:
        raise ServiceError(f"no order source {value!r}", field="order_source")
    return source


_MAX_ID_DIGITS = 19


class OrderSourceIndex:
    """Order sources read once for many orders (a batch): ``resolve`` answers as
    ``resolve_order_source`` does. ``wanted(values)`` says which ids and names to read."""

    def __init__(self, sources) -> None:
        self.by_id: dict[int, OrderSource] = {}
        self.by_name: dict[str, OrderSource] = {}
        for source in sources:
            self.by_id[source.pk] = source
            self.by_name[source.name] = source

    @staticmethod
    def wanted(values) -> tuple[set[int], set[str]]:
        """(ids, names) that ``resolve`` may look for among ``values``."""
        ids: set[int] = set()
        names: set[str] = set()
        for value in values:
            if isinstance(value, bool):
                continue
            if isinstance(value, str) and has_surrogate(value):
                continue  # refused by resolve
            if isinstance(value, str) and value.strip():
                names.add(value.strip())
                value = value.strip()
                value = int(value) if value.isdigit() and len(value) <= _MAX_ID_DIGITS else None
            if isinstance(value, int) and 0 < value < 2**63:  # no id outside the column's range
                ids.add(value)
        return ids, names

    def resolve(self, value) -> OrderSource:
        _check_value(value)
        source = None
        if isinstance(value, int):
            source = self.by_id.get(value)
        else:
            source = self.by_name.get(value.strip())
            if source is None and value.strip().isdigit() and len(value.strip()) <= _MAX_ID_DIGITS:
                source = self.by_id.get(int(value.strip()))
        if source is None:
            raise ServiceError(f"no order source {value!r}", field="order_source")
        return source


def _site_area(value, actor=None) -> SiteArea:
    site_area = SiteArea.objects.filter(pk=value).first() if isinstance(value, int) and not isinstance(value, bool) else None
    if site_area is None or not can_see_company(actor, site_area.company_id):
        raise ServiceError(f"no site area {value!r}", field="site_area")
    return site_area


def create_order_source(*, name: str, site_area: int, actor=None, actor_label: str | None = None) -> OrderSource:
    clean_name = clean_text({"name": name}, "name", required=True, max_len=200)
    area = _site_area(site_area, actor)
    with transaction.atomic():
        if OrderSource.objects.filter(name=clean_name).exists():
            raise ServiceError("an order source with this name exists", field="name", status=409)
        source = OrderSource.objects.create(name=clean_name, site_area=area)
        record_audit("order_source.create", actor=actor, actor_label=actor_label, obj=source, name=clean_name,
                     site_area=area.pk)
    return source


def update_order_source(source_id: int, *, actor=None, actor_label: str | None = None, **changes) -> OrderSource:
    unknown = set(changes) - {"name", "site_area"}
    if unknown:
        raise ServiceError("is not an order source field", field=sorted(unknown)[0])
    with transaction.atomic():
        source = OrderSource.objects.select_related("site_area").select_for_update(of=("self",)).filter(
            pk=source_id).first()
        if source is None or not can_see_company(actor, source.site_area.company_id):
            raise ServiceError(f"order source {source_id} does not exist", field="id", status=404)
        before = {"name": source.name, "site_area": source.site_area_id}
        if "name" in changes:
            name = clean_text(changes, "name", required=True, max_len=200)
            if OrderSource.objects.filter(name=name).exclude(pk=source.pk).exists():
                raise ServiceError("an order source with this name exists", field="name", status=409)
            source.name = name
        if "site_area" in changes:
            source.site_area = _site_area(changes["site_area"], actor)
        source.save()
        record_audit("order_source.update", actor=actor, actor_label=actor_label, obj=source, before=before,
                     after={"name": source.name, "site_area": source.site_area_id})
    return source
