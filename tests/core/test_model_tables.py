"""The Table each model option produces, on paper and in a live schema on every backend."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

import sqlmodelx as sx
from sqlmodelx.types import DecimalType, Duration, PreciseTime, UTCDateTime

from .models_catalog import (
    CoreAuthor,
    CoreBook,
    CoreElsewhere,
    CoreEverything,
    CorePair,
    custom_metadata,
)


def test_table_names_and_override() -> None:
    assert CoreEverything.__table__.name == "core_everything"
    assert CoreAuthor.__table__.name == "core_authors"
    assert CoreBook.__tablename__ == "core_book"


def test_annotation_types() -> None:
    c = CoreEverything.__table__.c
    assert isinstance(c.i.type, sa.Integer)
    assert isinstance(c.s_short.type, sa.String) and c.s_short.type.length == 20
    assert isinstance(c.s_long.type, sa.Text)
    assert isinstance(c.flag.type, sa.Boolean)
    assert isinstance(c.ratio.type, sa.Double)
    assert isinstance(c.price.type, DecimalType)
    assert (c.price.type.impl.precision, c.price.type.impl.scale) == (12, 4)
    assert isinstance(c.at.type, UTCDateTime)
    assert isinstance(c.day.type, sa.Date)
    assert isinstance(c.clock.type, PreciseTime)
    assert isinstance(c.span.type, Duration)
    assert isinstance(c.blob.type, sa.LargeBinary)
    assert isinstance(c.token.type, sa.Uuid)
    assert isinstance(c.color.type, sa.Enum) and c.color.type.enums == ["red", "green"]
    assert isinstance(c.doc.type, sa.JSON) and isinstance(c["items"].type, sa.JSON)
    assert "postgresql" in c.doc.type._variant_mapping


def test_nullability_defaults_and_ignored_attributes() -> None:
    c = CoreEverything.__table__.c
    assert not c.i.nullable and not c.s_short.nullable and not c.color.nullable
    assert c.at.nullable and c.blob.nullable and c.token.nullable
    assert "counter" not in c and "_private" not in c
    assert CoreEverything.counter == 0
    assert c.created_at.default is not None  # inherited from the abstract base
    assert list(c.keys())[:3] == ["id", "created_at", "i"]  # base fields first, as dataclasses
    assert c.id.primary_key and c.id.autoincrement in (True, "auto")


def test_primary_keys_foreign_keys_and_indexes() -> None:
    book = CoreBook.__table__
    assert [c.name for c in book.primary_key] == ["id"]
    (fk,) = book.c.author_id.foreign_keys
    assert fk.column is CoreAuthor.__table__.c.id
    assert (fk.ondelete, fk.onupdate) == ("CASCADE", "CASCADE")
    (fk2,) = book.c.editor_id.foreign_keys
    assert fk2.ondelete == "SET NULL" and book.c.editor_id.nullable
    assert not book.c.author_id.nullable
    assert book.c.code.type.length == 12
    assert book.c.note.comment == "free text" and book.c.note.nullable
    assert [c.name for c in CorePair.__table__.primary_key] == ["left", "right"]
    assert CoreAuthor.__table__.c.nickname.name == "nick"
    assert CoreAuthor.nickname is CoreAuthor.__table__.c.nickname


def test_columns_are_core_expressions() -> None:
    stmt = sa.select(CoreAuthor).where(CoreAuthor.name == "Ann", CoreAuthor.rating > 3)
    sql = str(stmt.compile(compile_kwargs={"literal_binds": True}))
    assert "FROM core_authors" in sql and "core_authors.name = 'Ann'" in sql
    assert set(stmt.selected_columns.keys()) == set(CoreAuthor.__table__.c.keys())


def test_custom_metadata() -> None:
    assert CoreElsewhere.__table__.metadata is custom_metadata
    assert "core_elsewhere" not in sx.Model.metadata.tables


def test_naming_convention_is_deterministic() -> None:
    names = {ix.name for ix in CoreAuthor.__table__.indexes}
    assert "ix_core_authors_name" in names
    uq = {c.name for c in CoreBook.__table__.constraints if isinstance(c, sa.UniqueConstraint)}
    fks = {c.name for c in CoreBook.__table__.constraints if isinstance(c, sa.ForeignKeyConstraint)}
    # names are conv() tokens until DDL renders them; compile DDL to see them
    ddl = str(sa.schema.CreateTable(CoreBook.__table__).compile(dialect=sqlite.dialect()))
    assert "CONSTRAINT uq_core_book_title_author_id UNIQUE" in ddl
    assert "CONSTRAINT fk_core_book_author_id_core_authors FOREIGN KEY" in ddl
    assert "CONSTRAINT pk_core_book PRIMARY KEY" in ddl
    assert uq and fks


async def test_live_schema_matches_the_tables(sx_database: sx.Database) -> None:
    def inspect_all(conn: sa.Connection) -> dict[str, object]:
        insp = sa.inspect(conn)
        out: dict[str, object] = {}
        for table in ("core_everything", "core_authors", "core_book", "core_pair"):
            out[table] = {
                "columns": {c["name"]: c for c in insp.get_columns(table)},
                "pk": insp.get_pk_constraint(table),
                "fks": insp.get_foreign_keys(table),
                "indexes": insp.get_indexes(table),
                "uniques": insp.get_unique_constraints(table),
            }
        return out

    async with sx_database.engine.connect() as conn:
        live = await conn.run_sync(inspect_all)
    dialect = sx_database.dialect.name

    for model in (CoreEverything, CoreAuthor, CoreBook, CorePair):
        table = model.__table__
        schema = live[table.name]
        assert set(schema["columns"]) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            reflected = schema["columns"][column.name]
            assert reflected["nullable"] == column.nullable, (table.name, column.name)
        assert schema["pk"]["constrained_columns"] == [c.name for c in table.primary_key]
        if dialect == "postgresql":  # MySQL always says PRIMARY, SQLite keeps no name
            assert schema["pk"]["name"] == f"pk_{table.name}"

    book = live["core_book"]
    fks = {fk["constrained_columns"][0]: fk for fk in book["fks"]}
    assert fks["author_id"]["referred_table"] == "core_authors"
    assert fks["author_id"]["options"].get("ondelete") == "CASCADE"
    assert fks["editor_id"]["options"].get("ondelete") == "SET NULL"
    if dialect != "sqlite":
        assert fks["author_id"]["name"] == "fk_core_book_author_id_core_authors"
        assert fks["author_id"]["options"].get("onupdate") == "CASCADE"

    author = live["core_authors"]
    index_names = {ix["name"]: ix for ix in author["indexes"]}
    assert index_names["ix_core_authors_name"]["column_names"] == ["name"]
    assert not index_names["ix_core_authors_name"]["unique"]
    uniques = {tuple(u["column_names"]): u["name"] for u in author["uniques"]}
    uniques.update(
        {tuple(ix["column_names"]): ix["name"] for ix in author["indexes"] if ix["unique"]}
    )
    assert uniques[("email",)] == "uq_core_authors_email"
    book_uniques = {tuple(u["column_names"]): u["name"] for u in book["uniques"]}
    book_uniques.update({tuple(ix["column_names"]): ix["name"] for ix in book["indexes"] if ix["unique"]})
    assert book_uniques[("title", "author_id")] == "uq_core_book_title_author_id"

    cols = live["core_everything"]["columns"]
    assert cols["s_short"]["type"].length == 20
    if dialect == "postgresql":
        assert "TIMESTAMP" in str(cols["at"]["type"]) and cols["at"]["type"].timezone
        assert "JSONB" in str(cols["doc"]["type"])
        assert "INTERVAL" in str(cols["span"]["type"])
    if dialect in ("mysql", "mariadb"):
        assert getattr(cols["at"]["type"], "fsp", None) == 6
        assert getattr(cols["clock"]["type"], "fsp", None) == 6


def test_dataclass_transform_signature() -> None:
    import typing

    meta = type(sx.Model)
    transform = getattr(meta, "__dataclass_transform__", None)
    assert transform is not None and transform["kw_only_default"] is True
    assert sx.Field in transform["field_specifiers"]
    assert typing.get_origin(dt.datetime) is None  # keeps the import used
