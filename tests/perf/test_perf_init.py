"""The generated per-model ``__init__`` and flush validator (``model._init_function`` and
``model._validator``) give exactly what the general path gives: ``Model.__init__`` (that is,
``_init_values``) and ``validate_changes``. Same values of the same types in the same
order, the same defaults and factory calls, the same errors (all of them, in order), for
every kind of field: scalars with and without rules, Decimal, datetimes, enums, JSON,
``sa_type`` / ``sa_column``, server defaults, keys, foreign keys and relation objects."""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import functools
import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx.model import validate_changes

#: Every call of a default factory of the models below, in order.
factory_calls: list[str] = []


def counted(label: str, value: Callable[[], Any]) -> Callable[[], Any]:
    def factory() -> Any:
        factory_calls.append(label)
        return value()

    return factory


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Label(str):
    """A str subclass: the coercer keeps it, the inline test does not take it."""


class InitEverything(sx.Model):
    __tablename__ = "perf_init_everything"
    name: str = sx.Field(max_length=5)
    short: str | None = sx.Field(default=None, max_length=3)
    count: int
    bounded: int = sx.Field(default=5, ge=0, le=10)
    pick: str = sx.Field(default="a", choices=("a", "b"))
    ratio: float = 0.5
    flag: bool = False
    price: Decimal = sx.Field(max_digits=6, decimal_places=2, default=Decimal("0"))
    at: dt.datetime | None = None
    day: dt.date | None = None
    clock: dt.time | None = None
    span: dt.timedelta | None = None
    blob: bytes | None = sx.Field(default=None, max_length=4)
    token: uuid.UUID = sx.Field(default_factory=counted("token", lambda: uuid.UUID(int=7)))
    mood: Mood = Mood.HAPPY
    level: Level | None = None
    doc: dict[str, Any] = sx.Field(default_factory=counted("doc", dict))
    items: list[Any] | None = None
    coded: str = sx.Field(default="x", max_length=4, sa_type=sa.String(4))
    note: str | None = sx.Field(default=None, sa_column=sa.Column(sa.String(10), nullable=True))
    stamp: int = sx.Field(default_factory=counted("stamp", lambda: 3), server_default=sa.text("0"))
    filled: int | None = sx.Field(server_default=sa.text("1"))
    version: int = sx.VersionField()


class InitAuthor(sx.Model):
    __tablename__ = "perf_init_author"
    name: str = sx.Field(max_length=100, index=True)
    email: str | None = sx.Field(default=None, unique=True, max_length=200)
    rating: Decimal = sx.Field(max_digits=5, decimal_places=2, default=Decimal("0"))


class InitBook(sx.Model):
    __tablename__ = "perf_init_book"
    title: str = sx.Field(max_length=200)
    author: InitAuthor = sx.ForeignKey(on_delete="CASCADE", related_name="init_books")
    editor: InitAuthor | None = sx.ForeignKey(on_delete="SET NULL", related_name="init_edited")
    pages: int = sx.Field(default=0, ge=0)


class InitPair(sx.Model):
    """A composite primary key."""

    __tablename__ = "perf_init_pair"
    left: int = sx.Field(primary_key=True, autoincrement=False)
    right: str = sx.Field(primary_key=True, max_length=10)
    label: str | None = None


class InitKeyed(sx.Model):
    """A key the caller gives, and a required field without a default."""

    __tablename__ = "perf_init_keyed"
    code: str = sx.Field(primary_key=True, max_length=8)
    size: int
    maybe: int | None


class InitNames(sx.Model):
    """Field names that are also names of builtins and of the generated code's variables."""

    __tablename__ = "perf_init_names"
    self: builtins.str = sx.Field(max_length=3)
    type: int = 0
    len: builtins.str | None = sx.Field(default=None, max_length=2)
    str: bytes | None = None
    exc: int | None = None
    v: bool = False
    d: float = 1.0
    kwargs: int | None = None
    args: int | None = None
    errors: int | None = None
    values: int | None = None
    ValueError: int | None = None  # noqa: N815


class InitBare(sx.Model):
    """A concrete model that declares no field (only the implicit key)."""

    __tablename__ = "perf_init_bare"


class InitBareChild(InitBare):
    """A subclass of it with fields of its own: its constructor is its own, not the parent's."""

    __tablename__ = "perf_init_bare_child"
    name: str = sx.Field(max_length=5)
    size: int = 0


class InitCustom(sx.Model):
    """A model with its own ``__init__`` keeps it."""

    __tablename__ = "perf_init_custom"
    name: str = sx.Field(max_length=20)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "custom")
        super().__init__(**kwargs)


NAIVE = dt.datetime(2024, 1, 1, 12)
AWARE = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))

#: Values tried for every field (each model's fields also get their own good values).
POOL: list[Any] = [
    None, "", "abc", "abcdef", Label("ab"), "12", "1.5", "red", "happy", "2024-01-02", "12:30",
    "2024-01-01T12:00:00+00:00", "12345678123456781234567812345678", "a", "b", "c",
    0, 1, -1, 11, 3, True, False, 1.0, 2.5, float("nan"), Decimal("1.25"), Decimal("1.234"),
    Decimal("12345.6"), Decimal("NaN"), NAIVE, AWARE, dt.date(2024, 1, 2), dt.time(12, 30),
    dt.timedelta(seconds=5), b"ab", b"abcdef", bytearray(b"xy"), uuid.UUID(int=5), Mood.SAD,
    Level.HIGH, 2, {}, {"k": [1]}, [], [1, "a"], object(),
]
MODELS: list[type[sx.Model]] = [InitEverything, InitKeyed, InitAuthor, InitPair, InitBook, InitNames, InitBareChild]


def outcome(make: Callable[[], sx.Model]) -> tuple[Any, ...]:
    """What building an object gave: its ``__dict__`` items with their types, or the error,
    and the default factories it called."""
    factory_calls.clear()
    try:
        obj = make()
    except Exception as exc:  # the error itself is what is compared
        errors = exc.errors() if isinstance(exc, sx.ValidationError) else None
        return ("raised", type(exc), str(exc), errors, tuple(factory_calls))
    items = [(k, type(v), v) for k, v in obj.__dict__.items()]
    return ("built", type(obj), items, tuple(factory_calls))


def general(model: type[sx.Model], *args: Any, **kwargs: Any) -> Callable[[], sx.Model]:
    """``model(*args, **kwargs)`` through ``Model.__init__``, the general path."""

    def make() -> sx.Model:
        obj = model.__new__(model)
        sx.Model.__init__(obj, *args, **kwargs)
        return obj

    return make


#: Values every model accepts, so that random mixes of them with ``POOL`` often build.
GOOD: dict[type[sx.Model], dict[str, Any]] = {
    InitEverything: {
        "name": "abc", "count": 3, "bounded": 10, "pick": "b", "ratio": 2.0, "flag": True,
        "price": Decimal("1.50"), "at": AWARE, "day": dt.date(2024, 1, 2), "clock": dt.time(1),
        "span": dt.timedelta(1), "blob": b"abcd", "mood": "sad", "level": 2, "items": [1],
        "coded": "abcd", "note": "n", "filled": 4, "version": 1,
    },
    InitKeyed: {"code": "k", "size": 1, "maybe": None},
    InitAuthor: {"name": "a", "email": "e", "rating": "1.5"},
    InitPair: {"left": 1, "right": "r", "label": "l"},
    InitBook: {"title": "t", "author_id": 1, "editor_id": None, "pages": 2},
    InitBareChild: {"name": "abc", "size": 2},
    InitNames: {
        "self": "abc", "type": 2, "len": "ab", "str": b"x", "exc": 1, "v": True, "d": 2.5,
        "kwargs": 1, "args": 2, "errors": 3, "values": 4, "ValueError": 5,
    },
}


def random_kwargs(model: type[sx.Model], rng: random.Random) -> dict[str, Any]:
    """Each field: a value from ``POOL``, left out, or its good value (if it has one)."""
    good = GOOD[model]
    bad = rng.choice((0.0, 0.05, 0.3, 0.8))
    kwargs: dict[str, Any] = {}
    for name in model.__sx_plan__.fields:
        draw = rng.random()
        if draw < bad:
            kwargs[name] = rng.choice(POOL)
        elif draw >= bad + 0.1 and name in good:
            kwargs[name] = good[name]
    return kwargs


def test_every_model_has_a_generated_init_unless_it_has_its_own() -> None:
    for model in MODELS:
        assert model.__init__ is not sx.Model.__init__, model
        assert model.__init__.__qualname__ == f"{model.__qualname__}.__init__"
    assert InitCustom.__init__ is InitCustom.__dict__["__init__"]
    assert InitCustom().name == "custom"
    with pytest.raises(sx.ValidationError, match="at most 20 characters"):
        InitCustom(name="x" * 21)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_random_keywords_give_what_the_general_path_gives(model: type[sx.Model]) -> None:
    rng = random.Random(f"init-{model.__name__}")
    built = 0
    for _ in range(3000):
        kwargs = random_kwargs(model, rng)
        result = outcome(functools.partial(model, **kwargs))
        assert result == outcome(general(model, **kwargs)), kwargs
        built += result[0] == "built"
    assert built > 100  # not only errors


def test_good_values_defaults_and_factories() -> None:
    kwargs = GOOD[InitEverything]
    built = outcome(lambda: InitEverything(**kwargs))
    assert built == outcome(general(InitEverything, **kwargs))
    assert built[0] == "built" and built[3] == ("token", "doc", "stamp")
    obj = InitEverything(count=1, name="a")
    assert obj.token == uuid.UUID(int=7) and obj.doc == {} and obj.stamp == 3 and obj.mood is Mood.HAPPY
    assert "filled" not in obj.__dict__ and "id" not in obj.__dict__  # the database fills them
    assert list(obj.__dict__)[:3] == ["name", "short", "count"]
    keyed = InitKeyed(code="k", size="4", maybe=None)
    assert keyed.__dict__ == {"code": "k", "size": 4, "maybe": None}


@pytest.mark.parametrize(
    ("model", "args", "kwargs"),
    [
        (InitEverything, ("a",), {}),
        (InitEverything, (), {"nmae": "a", "count": 1}),
        (InitEverything, (), {"name": "a", "count": "x", "extra": 1}),
        (InitEverything, (), {}),
        (InitEverything, (), {"name": "a", "count": 1, "_self": 1}),
        (InitEverything, (), {"name": "a", "count": 1, "_args": 1, "_extra": 2}),
        (InitEverything, (), {"name": "a", "count": 1, "self": 1}),
        (InitNames, (), {"self": "abcd", "type": "x", "len": "abc", "str": 1, "exc": "e", "v": 2}),
        (InitNames, (), {"type": 1}),
        (InitKeyed, (), {}),
        (InitBareChild, (), {}),
        (InitBareChild, (), {"size": 1}),
        (InitBook, (), {"title": "t", "author": InitAuthor(name="a"), "author_id": 1}),
        (InitBook, (), {"title": "t", "author": "not an author"}),
        (InitBook, (), {"title": "t", "author": None}),
        (InitBook, (), {"title": "t", "editor": None, "author_id": 3, "pages": -1}),
        (InitBook, (), {"title": 5, "author_id": None, "editor_id": InitAuthor(name="e")}),
    ],
)
def test_errors_and_relations_as_the_general_path(model: type[sx.Model], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    assert outcome(lambda: model(*args, **kwargs)) == outcome(general(model, *args, **kwargs))


def test_a_relation_object_sets_its_key() -> None:
    author = InitAuthor(name="a")
    author.__dict__["id"] = 9
    book = InitBook(title="t", author=author)
    assert book.author is author and book.author_id == 9 and book.editor_id is None


def checked(obj: sx.Model, check: Callable[[sx.Model], None]) -> sx.Model:
    """A copy of ``obj`` after ``check`` (which may store coerced values in it)."""
    copy = type(obj).__new__(type(obj))
    copy.__dict__.update(obj.__dict__)
    check(copy)
    return copy


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_flush_validation_gives_what_validate_changes_gives(model: type[sx.Model]) -> None:
    """``plan.validate_fields`` (the flush's check of a new object) against the general
    ``validate_changes`` over every field, on objects whose values were replaced after
    construction (as ``obj.field = value`` or a direct ``__dict__`` write would)."""
    plan = model.__sx_plan__
    rng = random.Random(f"flush-{model.__name__}")
    for _ in range(3000):
        obj = model(**GOOD[model])
        for name in plan.fields:
            if rng.random() < 0.5:
                obj.__dict__[name] = rng.choice(POOL)
        if rng.random() < 0.3:
            obj.__dict__.pop(rng.choice(list(plan.fields)), None)
        mine = outcome(functools.partial(checked, obj, lambda copy: plan.validate_fields(copy.__dict__)))
        assert mine == outcome(functools.partial(checked, obj, lambda copy: validate_changes(copy, plan.field_names)))


async def test_values_set_after_construction_are_validated_at_flush(sx_database: sx.Database) -> None:
    """Every new object is checked at its flush: a value set since (coerced or refused) and a
    value written into ``__dict__`` directly alike."""
    coerced = InitAuthor(name="a")
    coerced.rating = "1.5"  # type: ignore[assignment]
    direct = InitAuthor(name="b")
    direct.__dict__["email"] = 5
    async with sx_database.session():
        await InitAuthor.objects.bulk_create([coerced])
    with pytest.raises(sx.ValidationError) as info:
        async with sx_database.session():
            await InitAuthor.objects.bulk_create([direct])
    assert coerced.rating == Decimal("1.5")
    assert info.value.errors() == [{"field": "email", "value": 5, "message": "expected a str, got int"}]
