"""Which type changes the data-loss guard calls narrowing (no database needed)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from sqlmodelx.migrate import narrows
from sqlmodelx.types import DecimalType, UTCDateTime

NARROWING = [
    (sa.VARCHAR(100), sa.String(50)),
    (sa.Text(), sa.String(200)),
    (sa.Enum("a", "b", name="e"), sa.Enum("a", name="e")),
    (sa.String(20), sa.Enum("a", "b", name="e")),
    (sa.BigInteger(), sa.Integer()),
    (sa.Integer(), sa.SmallInteger()),
    (mysql.INTEGER(), mysql.TINYINT()),
    (sa.Integer(), mysql.MEDIUMINT()),
    (sa.Numeric(10, 2), sa.Numeric(8, 2)),
    (sa.Numeric(10, 4), DecimalType(10, 2)),
    (sa.String(50), sa.Integer()),
    (sa.DateTime(), sa.Date()),
]
WIDENING = [
    (sa.VARCHAR(100), sa.String(150)),
    (sa.String(100), sa.Text()),
    (sa.Enum("a", name="e"), sa.Enum("a", "b", name="e")),
    (postgresql.ENUM("a", "b", name="e"), sa.String(10)),
    (sa.SmallInteger(), sa.Integer()),
    (mysql.TINYINT(), sa.BigInteger()),
    (sa.SmallInteger(), mysql.MEDIUMINT()),
    (sa.Numeric(8, 2), sa.Numeric(10, 2)),
    (sa.DateTime(timezone=True), UTCDateTime()),
    (mysql.LONGTEXT(), sa.Text()),
]


@pytest.mark.parametrize(("old", "new"), NARROWING, ids=repr)
def test_narrowing(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    assert narrows(old, new)


@pytest.mark.parametrize(("old", "new"), WIDENING, ids=repr)
def test_not_narrowing(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    assert not narrows(old, new)
