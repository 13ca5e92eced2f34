"""Bad input gets a clear error, and nothing is written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

import sqlmodelx as sx

from .models_catalog import Color, CoreAuthor, CoreBook, CoreEverything


def test_unknown_keyword_names_model_and_fields() -> None:
    with pytest.raises(TypeError) as info:
        CoreAuthor(name="a", nmae="b")
    message = str(info.value)
    assert "CoreAuthor()" in message and "'nmae'" in message
    assert "name, email, rating, nickname" in message


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match=r"CoreAuthor\(\) takes keyword arguments only"):
        CoreAuthor("Ann")  # type: ignore[misc]


def test_every_failure_is_reported_at_once() -> None:
    with pytest.raises(sx.ValidationError) as info:
        CoreEverything(
            i="twelve",
            s_short="x" * 21,
            price=Decimal("123456789.1"),
            color="purple",
            at=dt.datetime(2024, 1, 1),
            flag=None,
        )
    errors = {e["field"]: e for e in info.value.errors()}
    assert set(errors) == {"i", "s_short", "price", "color", "at", "flag"}
    assert "expected an int" in errors["i"]["message"] and errors["i"]["value"] == "twelve"
    assert "at most 20 characters" in errors["s_short"]["message"]
    assert "digits before the decimal point" in errors["price"]["message"]
    assert "not a member of Color" in errors["color"]["message"]
    assert "naive datetime" in errors["at"]["message"]
    assert "may not be None" in errors["flag"]["message"]
    assert "6 invalid values for CoreEverything" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_required_field_and_coercion() -> None:
    with pytest.raises(sx.ValidationError) as info:
        CoreEverything(s_short="a")
    assert info.value.errors() == [{"field": "i", "value": None, "message": "this field is required"}]
    obj = CoreEverything(i="42", s_short="a", price="1.5", color="green", token="12345678123456781234567812345678")
    assert obj.i == 42 and obj.price == Decimal("1.5") and obj.color is Color.GREEN
    assert str(obj.token) == "12345678-1234-5678-1234-567812345678"


def test_numeric_bounds_and_decimal_places() -> None:
    with pytest.raises(sx.ValidationError, match="must be >= 0"):
        CoreBook(title="t", author_id=1, pages=-1)
    with pytest.raises(sx.ValidationError, match="at most 4 decimal places"):
        CoreEverything(i=1, s_short="a", price=Decimal("1.00001"))


def test_unsupported_annotation_names_model_field_and_annotation() -> None:
    class Weird:
        pass

    with pytest.raises(sx.ConfigurationError) as info:

        class CoreBadModel(sx.Model):
            thing: Weird

    message = str(info.value)
    assert "CoreBadModel.thing" in message and "Weird" in message and "sa_type=" in message


def test_two_models_with_one_table_name() -> None:
    with pytest.raises(sx.ConfigurationError) as info:

        class CoreDuplicate(sx.Model):
            __tablename__ = "core_authors"
            x: int = 0

    message = str(info.value)
    assert "core_authors" in message and "CoreAuthor" in message and "CoreDuplicate" in message


def test_decimal_needs_digits() -> None:
    with pytest.raises(sx.ConfigurationError, match="max_digits= and decimal_places="):

        class CoreNoDigits(sx.Model):
            amount: Decimal


async def test_invalid_values_write_nothing(sx_database: sx.Database) -> None:
    with pytest.raises(sx.ValidationError):
        await CoreAuthor.objects.create(name="x" * 101)
    with pytest.raises(sx.ValidationError):
        await CoreEverything.objects.create(i=1, s_short="ok", at=dt.datetime(2024, 1, 1))
    async with sx_database.engine.connect() as conn:
        for table in (CoreAuthor.__table__, CoreEverything.__table__):
            count = (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar()
            assert count == 0


async def test_wrong_typed_filter_value_is_refused_not_compared(sx_database: sx.Database) -> None:
    await CoreEverything.objects.create(i=0, s_short="zero")
    # MariaDB would compare 'abc' as 0 and match the row; sqlmodelx converts first.
    with pytest.raises(sx.ValidationError, match="cannot be compared"):
        await CoreEverything.objects.filter(i="abc").count()
    assert await CoreEverything.objects.filter(i="0").count() == 1


def test_unsupported_resolvable_annotation() -> None:
    with pytest.raises(sx.ConfigurationError) as info:

        class CoreComplex(sx.Model):
            value: complex

    message = str(info.value)
    assert "CoreComplex.value" in message and "unsupported annotation" in message and "complex" in message
