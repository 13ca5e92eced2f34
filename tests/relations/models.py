"""Models shared by the relations tests (tables prefixed ``r_``)."""

from __future__ import annotations

import sqlalchemy as sa

import sqlmodelx as sx


class RPublisher(sx.Model):
    __tablename__ = "r_publisher"
    name: str = sx.Field(max_length=50)


class RAuthor(sx.Model):
    __tablename__ = "r_author"
    name: str = sx.Field(max_length=50)
    publisher: RPublisher | None = sx.ForeignKey(on_delete="SET NULL", related_name="authors")


class RBook(sx.Model):
    __tablename__ = "r_book"
    title: str = sx.Field(max_length=100)
    pages: int = 100
    author: RAuthor = sx.ForeignKey(on_delete="CASCADE", related_name="books")
    editor: RAuthor | None = sx.ForeignKey(on_delete="SET NULL", related_name="edited")
    tags: list[RTag] = sx.ManyToMany(related_name="books")        # forward reference by name


class RTag(sx.Model):
    __tablename__ = "r_tag"
    name: str = sx.Field(max_length=30)


class RProfile(sx.Model):
    __tablename__ = "r_profile"
    author: RAuthor = sx.OneToOne(on_delete="CASCADE", related_name="profile")
    bio: str = ""


class RCategory(sx.Model):
    __tablename__ = "r_category"
    name: str = sx.Field(max_length=30)
    parent: RCategory | None = sx.ForeignKey(on_delete="CASCADE", related_name="children")


class RWarehouse(sx.Model):
    __tablename__ = "r_warehouse"
    name: str = sx.Field(max_length=30)


class RRack(sx.Model):
    __tablename__ = "r_rack"
    warehouse: RWarehouse = sx.ForeignKey(on_delete="CASCADE", related_name="racks")


class RItem(sx.Model):
    __tablename__ = "r_item"
    rack: RRack = sx.ForeignKey(on_delete="PROTECT", related_name="items")
    label: str = sx.Field(max_length=30, default="")


class RStudent(sx.Model):
    __tablename__ = "r_student"
    name: str = sx.Field(max_length=30)
    courses: list[RCourse] = sx.ManyToMany(through="REnrollment", related_name="students")


class RCourse(sx.Model):
    __tablename__ = "r_course"
    title: str = sx.Field(max_length=30)


class REnrollment(sx.Model):
    __tablename__ = "r_enrollment"
    student: RStudent = sx.ForeignKey(on_delete="CASCADE", related_name="enrollments")
    course: RCourse = sx.ForeignKey(on_delete="CASCADE", related_name="enrollments")
    grade: int = 0
    __table_args__ = (sa.UniqueConstraint("student_id", "course_id"),)


class RPerson(sx.Model):
    __tablename__ = "r_person"
    name: str = sx.Field(max_length=30)
    follows: list[RPerson] = sx.ManyToMany(related_name="followers")   # self-referencing


class RNote(sx.Model):
    """A through model without a unique pair: add() stays idempotent through NOT EXISTS."""

    __tablename__ = "r_note"
    text: str = sx.Field(max_length=30)
    readers: list[RPerson] = sx.ManyToMany(through="RNoteRead", related_name="notes_read")


class RNoteRead(sx.Model):
    __tablename__ = "r_note_read"
    note: RNote = sx.ForeignKey(on_delete="CASCADE", related_name="reads")
    person: RPerson = sx.ForeignKey(on_delete="CASCADE", related_name="reads")
    times: int = 1


class RCountry(sx.Model):
    __tablename__ = "r_country"
    code: str = sx.Field(max_length=2, unique=True)
    name: str = sx.Field(max_length=30)


class RCity(sx.Model):
    """A foreign key to a unique non-key field, RESTRICT on delete, CASCADE on update."""

    __tablename__ = "r_city"
    name: str = sx.Field(max_length=30)
    country: RCountry = sx.ForeignKey(
        to_field="code", on_delete="RESTRICT", on_update="CASCADE", related_name="cities"
    )


sx.configure()
