"""A mirror of something that isn't there fails at once, saying what is there."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.test.utils import isolate_apps

from django_pareto.denorm import MirrorField, mirrors
from django_pareto.denorm.arrayfield import MirrorArrayField, pk_element_field


def relation_of(model: type[models.Model], name: str) -> Any:
    return model._meta.get_field(name).mirror.relation  # type: ignore[union-attr]


@isolate_apps("tests.denorm_app")
def test_a_relation_that_does_not_exist() -> None:
    class Topic(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "denorm_app"

    class Story(models.Model):
        title = models.CharField(max_length=10)
        topics = models.ManyToManyField(Topic, related_name="stories")
        wrong = MirrorField("topicz")
        not_m2m = MirrorField("title")
        bad_field = MirrorField("topics", fields=["name", "colour"])

        class Meta:
            app_label = "denorm_app"

    with pytest.raises(
        ImproperlyConfigured, match=r"denorm_app.Story.wrong mirrors 'topicz'.*relations: topics"
    ):
        relation_of(Story, "wrong")
    with pytest.raises(ImproperlyConfigured, match=r"a CharField, not a many-to-many"):
        relation_of(Story, "not_m2m")
    with pytest.raises(ImproperlyConfigured, match=r"has no field 'colour'. Its columns: id, name"):
        relation_of(Story, "bad_field")


@isolate_apps("tests.denorm_app")
def test_reverse_relations_by_name_or_accessor() -> None:
    class Topic(models.Model):
        by_name = MirrorField("story")  # the relation's query name
        by_accessor = MirrorField("story_set")
        nested = MirrorField("story", fields=["topics"])

        class Meta:
            app_label = "denorm_app"

    class Story(models.Model):
        topics = models.ManyToManyField(Topic)

        class Meta:
            app_label = "denorm_app"

    for name in ("by_name", "by_accessor"):
        rel = relation_of(Topic, name)
        assert (rel.related_model, rel.parent_fk.name, rel.related_fk.name) == (
            Story,
            "topic",
            "story",
        )
    with pytest.raises(ImproperlyConfigured, match="not a column"):
        relation_of(Topic, "nested")


@isolate_apps("tests.denorm_app")
def test_a_relation_declared_on_a_parent_model() -> None:
    class Topic(models.Model):
        class Meta:
            app_label = "denorm_app"

    class Story(models.Model):
        topics = models.ManyToManyField(Topic)

        class Meta:
            app_label = "denorm_app"

    class Feature(Story):
        topic_ids = MirrorField("topics")

        class Meta:
            app_label = "denorm_app"

    with pytest.raises(ImproperlyConfigured, match=r"put the mirror on denorm_app\.Story"):
        relation_of(Feature, "topic_ids")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {"relation": ""}, "takes the name of a many-to-many relation"),
        (("tags",), {"fields": "name"}, "takes a list of field names"),
        (("tags",), {"editable": True}, "sets editable itself"),
        (("tags",), {"default": dict, "blank": False}, "sets blank, default itself"),
    ],
)
def test_wrong_declarations(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        MirrorField(*args, **kwargs)


def test_every_installed_mirror_resolves() -> None:
    found = {m.label for m in mirrors()}
    assert {
        "denorm_app.Article.tag_ids",
        "denorm_app.Tag.article_ids",
        "denorm_app.PgArticle.tag_pks",
    } <= found
    assert all(m.relation.through is not None for m in mirrors())


@isolate_apps("tests.denorm_app")
def test_the_array_element_follows_the_pk() -> None:
    class Code(models.Model):
        code = models.CharField(max_length=12, primary_key=True)

        class Meta:
            app_label = "denorm_app"

    class Token(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)

        class Meta:
            app_label = "denorm_app"

    class Small(models.Model):
        id = models.SmallAutoField(primary_key=True)

        class Meta:
            app_label = "denorm_app"

    class Child(Small):
        class Meta:
            app_label = "denorm_app"

    class Holder(models.Model):
        codes = models.ManyToManyField(Code)
        tokens = models.ManyToManyField(Token)
        children = models.ManyToManyField(Child)
        code_pks = MirrorArrayField("codes")
        token_pks = MirrorArrayField("tokens")
        child_pks = MirrorArrayField("children")

        class Meta:
            app_label = "denorm_app"

    element = pk_element_field(Code._meta.pk)  # type: ignore[arg-type]
    assert (type(element), element.max_length, element.primary_key) == (models.CharField, 12, False)
    assert type(pk_element_field(Token._meta.pk)) is models.UUIDField  # type: ignore[arg-type]
    assert type(pk_element_field(Child._meta.pk)) is models.SmallIntegerField  # type: ignore[arg-type]
    assert type(pk_element_field(models.AutoField(primary_key=True))) is models.IntegerField
    for name, kind in (
        ("code_pks", models.CharField),
        ("token_pks", models.UUIDField),
        ("child_pks", models.SmallIntegerField),
    ):
        assert type(Holder._meta.get_field(name).base_field) is kind  # type: ignore[union-attr]
