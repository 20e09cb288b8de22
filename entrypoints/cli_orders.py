"""`eoharvest orders list|show|cancel`, and the `harvest --dry-run` preview of what would be ordered.

Orders are kept in the catalog (domain/orders.py), so these commands show the live state of
orders placed by any process, including a running daemon.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Iterable, Sequence

import click
from rich.console import Console
from rich.table import Table

from eoharvest.adapters.providers.table import provider_names, spec_for
from eoharvest.application.orders import HAVE, NOT_ORDERED, NOTE_WAITING, ORDER, REFUSED, OrderPreview
from eoharvest.domain.errors import InputError
from eoharvest.domain.orders import ORDER_STATES, WHOLE_PRODUCT, Order, OrderFilter
from eoharvest.domain.ports import OrderingSource
from eoharvest.entrypoints.cli_common import echo_json
from eoharvest.entrypoints.context import AppContext


def order_json(order: Order) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": order.id, "provider": order.key.provider, "product_key": order.key.product_key,
        "assets": None if order.key.selection == WHOLE_PRODUCT else order.key.selection.split(","),
        "scene_id": order.scene_id, "state": order.state, "label": order.label, "remote_id": order.remote_id,
        "size": order.size, "attempts": order.attempts, "polls": order.polls, "reorders": order.reorders,
        "requested_at": iso(order.requested_at), "polled_at": iso(order.polled_at), "ready_at": iso(order.ready_at),
        "expires_at": iso(order.expires_at), "last_error": order.last_error, "owner": order.owner,
        "created_at": iso(order.created_at), "updated_at": iso(order.updated_at),
    }  # fmt: skip


@click.group()
def orders() -> None:
    """Orders of products that must be prepared before they can be downloaded (Planet asset
    activation, USGS download requests, CDSE offline products waiting to come online).

    States: intent (being placed), requested, pending, ready, downloaded, expired (ordered again
    once), failed (the provider's reason), waiting (the provider cannot order it; re-checked on
    later runs and daemon passes).
    """


@orders.command("list")
@click.option("--provider", default=None, help="Only this provider's orders.")
@click.option("--state", "states", multiple=True, type=click.Choice(ORDER_STATES),
              help="Only orders in this state (repeatable).")  # fmt: skip
@click.option("--product", "products", multiple=True, help="Only orders of this product key (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_orders(obj: AppContext, provider: str | None, states: Sequence[str], products: Sequence[str],
                as_json: bool) -> None:  # fmt: skip
    """List orders with their state, attempts, times and last error, oldest first."""
    criteria = OrderFilter.create(providers=[provider] if provider else [], states=states, product_keys=products)
    found = obj.services().catalog(read_only=True).find_orders(criteria)
    if as_json:
        echo_json([order_json(o) for o in found])
        return
    table = Table(title=f"{len(found)} order(s)")
    for column in ("id", "provider", "product", "assets", "state", "placed", "polls", "requested", "polled",
                   "expires", "last error"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for o in found:
        table.add_row(
            str(o.id), o.key.provider, o.key.product_key, o.key.selection, o.state, str(o.attempts), str(o.polls),
            _short(o.requested_at), _short(o.polled_at), _short(o.expires_at), (o.last_error or "")[:80],
        )  # fmt: skip
    console = Console(soft_wrap=True)
    console.print(table)
    counts = Counter(o.state for o in found)
    console.print(", ".join(f"{state} {counts[state]}" for state in ORDER_STATES if counts[state]) or "no orders")


@orders.command("show")
@click.argument("order")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list when ORDER is a product key).")
@click.pass_obj
def show(obj: AppContext, order: str, as_json: bool) -> None:
    """Every field of ORDER (an order id, or a product key for all its orders)."""
    found = _find(obj, order)
    if as_json:
        echo_json(order_json(found[0]) if order.isdigit() else [order_json(o) for o in found])
        return
    for item in found:
        for key, value in order_json(item).items():
            click.echo(f"{key:>13}: {'-' if value is None else value}")
        click.echo("")


@orders.command("cancel")
@click.argument("order_id", type=int)
@click.pass_obj
def cancel(obj: AppContext, order_id: int) -> None:
    """Remove order ORDER_ID from the catalog and, where the provider supports it (USGS
    download-order-remove), at the provider. Planet cannot cancel an activation: it stays on
    Planet's side until it expires. A cancelled product is ordered again by the next run."""
    services = obj.services()
    [order] = _find(obj, str(order_id), read_only=False)
    source = None
    if order.key.provider in provider_names() and spec_for(order.key.provider).capabilities.order_cancel:
        connected = services.source_for(order.key.provider)
        source = connected if isinstance(connected, OrderingSource) else None
    outcome = services.order_book().cancel(order, source)
    click.echo(f"order {order.id} ({order.key.describe()}, {order.state}) cancelled: {outcome.remote}")


def _find(obj: AppContext, order: str, *, read_only: bool = True) -> list[Order]:
    catalog = obj.services().catalog(read_only=read_only)
    if order.isdigit():
        found = catalog.order_by_id(int(order))
        if found is None:
            raise InputError(f"there is no order {order}", hint="see `eoharvest orders list`")
        return [found]
    matches = list(catalog.find_orders(OrderFilter.create(product_keys=[order])))
    if not matches:
        raise InputError(f"there is no order for product {order!r}", hint="see `eoharvest orders list`")
    return matches


def _short(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def print_preview(previews: Iterable[OrderPreview], *, as_json: bool) -> None:
    """`harvest --dry-run`: what would be ordered (and its size) before anything is placed."""
    rows = list(previews)
    ordered = [p for p in rows if p.action == ORDER]
    size = sum(p.scene.size or 0 for p in ordered)
    unknown = sum(1 for p in ordered if p.scene.size is None)
    counts = Counter(p.action for p in rows)
    area = _area_km2(p.scene for p in ordered)  # what area-based quotas (Planet) are charged on
    if as_json:
        echo_json({
            "would_order": len(ordered), "order_bytes": size, "order_sizes_unknown": unknown,
            "order_area_km2": round(area, 3),
            "actions": dict(sorted(counts.items())),
            "products": [{"scene_id": p.scene.scene_id, "product_key": p.scene.product_key, "action": p.action,
                          "order_state": p.state, "size": p.scene.size} for p in rows],
        })  # fmt: skip
        return
    table = Table(title="eoharvest harvest --dry-run: nothing is ordered, downloaded or catalogued")
    for column in ("product", "action", "order", "size"):
        table.add_column(column, overflow="fold")
    for p in rows:
        table.add_row(p.scene.product_key or p.scene.scene_id, p.action, p.state or "-",
                      f"{p.scene.size:,}" if p.scene.size is not None else "?")  # fmt: skip
    console = Console(soft_wrap=True)
    console.print(table)
    sizes = f"{size:,} bytes" + (f" (+{unknown} of unknown size)" if unknown else "")
    console.print(f"would order {len(ordered)} product(s), {sizes}, {area:,.1f} km²; download {counts['download']} directly; "
                  f"follow {counts['follow']} existing order(s); {counts[NOTE_WAITING]} wait for the provider; "
                  f"{counts[HAVE]} already in the archive"
                  + (f"; {counts[NOT_ORDERED]} need an order (--no-order)" if counts[NOT_ORDERED] else "")
                  + (f"; {counts[REFUSED]} whose order failed (cancel it to order again)" if counts[REFUSED] else ""),
                  highlight=False)  # fmt: skip


def _area_km2(scenes: Iterable[Any]) -> float:
    """The summed geodesic area of the scenes' footprints (WGS 84 ellipsoid), in km²."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    total = 0.0
    for scene in scenes:
        if scene.footprint is not None:
            area, _ = geod.geometry_area_perimeter(scene.footprint.geometry)
            total += abs(area)
    return total / 1e6
