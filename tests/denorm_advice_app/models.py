"""A small library of many-to-many shapes for the denormalization analyzer's tests (D001).

Each relation is read (or written) in one way only, so each test can tell which shape the
analyzer saw: ids only, a few cheap related columns, expensive related columns, a filter
through the relation, a small relation, and one written as often as it is read (through an
explicit model).
"""

from __future__ import annotations

from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=50)
    slug = models.SlugField(max_length=60, unique=True)


class Article(models.Model):
    title = models.CharField(max_length=200)
    # Read for its ids (a prefetch of pks, a loop) and filtered through (tags__slug).
    tags = models.ManyToManyField(Tag, related_name="articles")


class Ingredient(models.Model):
    name = models.CharField(max_length=50)
    vegan = models.BooleanField(default=False)
    notes = models.TextField(blank=True)  # long text: not worth copying into every recipe


class Recipe(models.Model):
    title = models.CharField(max_length=200)
    # Read for two cheap columns of the related rows (a fields=[...] copy), or for all.
    ingredients = models.ManyToManyField(Ingredient, related_name="recipes")


class Reader(models.Model):
    name = models.CharField(max_length=50)


class Book(models.Model):
    title = models.CharField(max_length=200)
    # Through an explicit model; a loan is written on every visit: as often as read.
    readers = models.ManyToManyField(Reader, through="Loan", related_name="books")


class Loan(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    reader = models.ForeignKey(Reader, on_delete=models.CASCADE)
    day = models.IntegerField(default=0)


class Color(models.Model):
    name = models.CharField(max_length=30)


class Shirt(models.Model):
    name = models.CharField(max_length=50)
    # A few dozen rows: the join reads a handful of pages, nothing to denormalize.
    colors = models.ManyToManyField(Color, related_name="shirts")
