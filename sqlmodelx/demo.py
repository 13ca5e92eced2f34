"""``sqlmodelx demo``: the quickstart, run end to end on an embedded SQLite database (L6)."""

from __future__ import annotations

import enum
from decimal import Decimal

import sqlmodelx as sx


class Status(enum.Enum):
    ACTIVE = "active"
    RETIRED = "retired"


class DemoAuthor(sx.Model):
    __tablename__ = "demo_author"
    name: str = sx.Field(max_length=100, index=True)
    email: str | None = sx.Field(default=None, unique=True)
    rating: Decimal = sx.Field(max_digits=5, decimal_places=2, default=Decimal("0"))
    status: Status = Status.ACTIVE


class DemoBook(sx.Model):
    __tablename__ = "demo_book"
    title: str = sx.Field(max_length=200)
    pages: int = 0
    author: DemoAuthor = sx.ForeignKey(on_delete="CASCADE", related_name="books")


async def run_demo(url: str = "sqlite:///:memory:", echo: bool = True) -> dict[str, object]:
    """Create two tables, write in one unit of work, query, and print what happened."""
    say = print if echo else (lambda *a, **k: None)
    db = sx.Database(url, name="demo", default=True)
    try:
        await db.create_all()
        async with db.session() as s:
            ann = DemoAuthor(name="Ann", email="ann@example.com", rating=Decimal("4.50"))
            bob = DemoAuthor(name="Bob")
            s.add(ann)
            s.add(bob)
            s.add(DemoBook(title="Async Tales", pages=320, author=ann))
            s.add(DemoBook(title="Second Tales", pages=120, author=ann))
            await s.flush()
            say(f"inserted {ann!r} and {bob!r}")
            same = await DemoAuthor.objects.get(id=ann.id)
            say(f"identity map: the same object again -> {same is ann}")
            ann.rating = Decimal("4.75")  # tracked; the commit UPDATEs only this column
        count = await DemoBook.objects.filter(author_id=ann.id).count()
        say(f"books by Ann: {count}")
        long_books = await DemoBook.objects.filter(pages__gt=200).order_by("-pages")
        say(f"books over 200 pages: {[b.title for b in long_books]}")
        reread = await DemoAuthor.objects.get(name="Ann")
        say(f"Ann's rating after commit: {reread.rating}")
        try:
            DemoAuthor(name="x" * 101, rating="abc")  # type: ignore[arg-type]
        except sx.ValidationError as exc:
            say(f"validation caught {len(exc.errors())} problems at once:\n{exc}")
        return {"books": count, "rating": reread.rating, "long": [b.title for b in long_books]}
    finally:
        await db.close()
