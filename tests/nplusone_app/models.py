"""A small shop for the N+1 analyzer's tests: every kind of relation Django has."""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    # One-to-one: Customer.profile is its reverse accessor.
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="profile")
    city = models.CharField(max_length=50)


class Tag(models.Model):
    name = models.CharField(max_length=30)


class Product(models.Model):
    sku = models.CharField(max_length=20, unique=True)  # the target of a non-id to_field
    name = models.CharField(max_length=50)
    tags = models.ManyToManyField(Tag, related_name="products")


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    number = models.IntegerField()


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, to_field="sku")
    quantity = models.IntegerField(default=1)
