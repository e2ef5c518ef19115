"""A small catalog for the cache analyzer's tests: cheap tables, costly ones, a write-heavy one."""

from __future__ import annotations

from django.db import models


class Category(models.Model):
    """A handful of rows, written rarely: reading it is cheaper than a cache round trip."""

    name = models.CharField(max_length=50)


class Product(models.Model):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=50)


class Review(models.Model):
    """Thousands of rows: an aggregate over them is genuinely costly."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    stars = models.PositiveSmallIntegerField()


class Visit(models.Model):
    """Written on every request of the visits page: nothing that reads it should be cached."""

    path = models.CharField(max_length=100)
