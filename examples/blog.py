"""A small blog: models, a unit of work, relations loaded without N+1, aggregates.

Run: python examples/blog.py [DATABASE_URL]   (default: an in-memory SQLite database)
"""

from __future__ import annotations

import asyncio
import sys

import sqlmodelx as sx
from sqlmodelx import Count, Q


class BlogUser(sx.Model):
    handle: str = sx.Field(max_length=30, unique=True)


class BlogTag(sx.Model):
    name: str = sx.Field(max_length=30, unique=True)


class BlogPost(sx.Model):
    title: str = sx.Field(max_length=200)
    published: bool = False
    author: BlogUser = sx.ForeignKey(on_delete="CASCADE", related_name="posts")
    tags: list[BlogTag] = sx.ManyToMany(related_name="posts")


class BlogComment(sx.Model):
    body: str
    post: BlogPost = sx.ForeignKey(on_delete="CASCADE", related_name="comments")
    author: BlogUser | None = sx.ForeignKey(on_delete="SET NULL", related_name="comments")


async def main(url: str) -> None:
    db = sx.Database(url)
    await db.drop_all()  # a fresh start each run
    await db.create_all()
    async with db.session():
        ann, bob = await BlogUser.objects.bulk_create([BlogUser(handle="ann"), BlogUser(handle="bob")])
        python, sql = await BlogTag.objects.bulk_create([BlogTag(name="python"), BlogTag(name="sql")])
        first = await BlogPost.objects.create(title="Async ORMs", published=True, author=ann)
        draft = await BlogPost.objects.create(title="Draft", author=ann)
        other = await BlogPost.objects.create(title="Joins", published=True, author=bob)
        await first.tags.add(python, sql)
        await other.tags.add(sql)
        await BlogComment.objects.bulk_create(
            [BlogComment(body="Nice", post=first, author=bob), BlogComment(body="Agreed", post=first)]
        )
        assert draft.id is not None

    # One query with a JOIN for the author, one per prefetched relation: no N+1.
    posts = await (
        BlogPost.objects.filter(published=True)
        .select_related("author")
        .prefetch_related("tags", "comments")
        .order_by("title")
    )
    for post in posts:
        tags = ", ".join(t.name for t in post.tags)
        print(f"{post.title!r} by {post.author.handle} [{tags}] {len(list(post.comments))} comment(s)")

    # Lookups across relations compile to EXISTS: no duplicate rows, no distinct() needed.
    sql_authors = await BlogUser.objects.filter(posts__tags__name="sql").order_by("handle")
    print("wrote about sql:", [u.handle for u in sql_authors])

    busy = await BlogUser.objects.annotate(n=Count("posts", filter=Q(posts__published=True))).order_by("-n", "handle")
    print("published posts:", {u.handle: u.n for u in busy})
    await db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///:memory:"))
