"""Every supported type survives a write and a read, checked through a plain SQLAlchemy connection."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import sqlmodelx as sx

from .models_catalog import Color, CoreEverything

NEW_YORK = dt.timezone(dt.timedelta(hours=-4))


def _values() -> dict[str, object]:
    return {
        "i": -2_000_000_000,
        "s_short": "héllo ß 🎉 %_\\'\"",
        "s_long": "x" * 5000 + "ÉÖ",
        "flag": True,
        "ratio": 0.1 + 0.2,
        "price": Decimal("12345678.1200"),
        "at": dt.datetime(2024, 7, 15, 3, 30, 0, 123456, tzinfo=NEW_YORK),
        "day": dt.date(1999, 12, 31),
        "clock": dt.time(23, 59, 58, 654321),
        "span": dt.timedelta(days=-3, seconds=7, microseconds=11),
        "blob": bytes(range(256)) * 3,
        "token": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "color": Color.GREEN,
        "doc": {"a": {"b": [1, 2, {"c": None}]}, "ü": "✓", "n": 1.5, "t": True},
        "items": [1, "two", [3], {"four": 4}],
    }


async def test_every_type_round_trips(sx_database: sx.Database) -> None:
    values = _values()
    obj = await CoreEverything.objects.create(**values)
    assert obj.id is not None

    # A plain engine with no sqlmodelx events reads the row back through the Table.
    plain = create_async_engine(sx_database.url)
    try:
        async with plain.connect() as conn:
            row = (
                await conn.execute(sa.select(CoreEverything.__table__).where(CoreEverything.id == obj.id))
            ).mappings().one()
            raw_at = (
                await conn.execute(
                    sa.select(sa.cast(CoreEverything.__table__.c.at, sa.String)).where(CoreEverything.id == obj.id)
                )
            ).scalar_one()
    finally:
        await plain.dispose()

    for name, expected in values.items():
        got = row[name]
        if name == "at":
            assert got == expected, "same instant"
            assert got.tzinfo is not None and got.utcoffset() == dt.timedelta(0), "returned as aware UTC"
            assert got.microsecond == 123456
        elif name == "price":
            assert got == expected and got.as_tuple().exponent == -4, "Decimal keeps its scale"
        elif name == "ratio":
            assert abs(got - expected) < 1e-12
        else:
            assert got == expected, name
    assert "07:30:00" in raw_at, f"stored as UTC, got {raw_at!r}"

    # And through sqlmodelx itself (no identity map outside a session: a fresh object).
    again = await CoreEverything.objects.get(id=obj.id)
    assert again is not obj
    assert again.at == values["at"] and again.at.tzinfo == dt.UTC
    assert again.color is Color.GREEN and again.doc == values["doc"] and again.blob == values["blob"]
    assert again.price == Decimal("12345678.1200") and str(again.price) == "12345678.1200"


async def test_nulls_and_defaults_round_trip(sx_database: sx.Database) -> None:
    obj = await CoreEverything.objects.create(i=1, s_short="a")
    again = await CoreEverything.objects.get(id=obj.id)
    assert (again.at, again.day, again.clock, again.span, again.blob, again.token) == (None,) * 6
    assert again.doc == {} and again.items == []
    assert again.color is Color.RED and again.flag is False and again.price == Decimal("0")
    assert again.created_at.tzinfo == dt.UTC
    assert abs((sx.utcnow() - again.created_at).total_seconds()) < 60


async def test_aware_filter_matches_the_same_instant(sx_database: sx.Database) -> None:
    at = dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    await CoreEverything.objects.create(i=1, s_short="a", at=at)
    assert await CoreEverything.objects.filter(at=at.astimezone(NEW_YORK)).count() == 1
