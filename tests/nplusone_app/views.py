"""One view per kind of N+1 (and per case that must not be flagged).

Every view reads from the database alias in its URL, so the same view runs on SQLite and
on PostgreSQL. Comments ``# parent: x`` and ``# access: x`` mark the lines the tests
expect in findings (the queryset to change, and the line that repeats the query).
"""

from __future__ import annotations

from django.db import connections
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tests.nplusone_app.models import Customer, Order, OrderLine, Product, Tag


def _done(items: object) -> HttpResponse:
    return HttpResponse(str(items))


def forward_fk(request: HttpRequest, alias: str) -> HttpResponse:
    orders = list(Order.objects.using(alias).order_by("number"))  # parent: forward_fk
    return _done([order.customer.name for order in orders])  # access: forward_fk


def reverse_one_to_one(request: HttpRequest, alias: str) -> HttpResponse:
    customers = list(Customer.objects.using(alias).order_by("id"))  # parent: reverse_o2o
    return _done([customer.profile.city for customer in customers])  # access: reverse_o2o


def to_field(request: HttpRequest, alias: str) -> HttpResponse:
    lines = list(OrderLine.objects.using(alias).order_by("id"))  # parent: to_field
    return _done([line.product.name for line in lines])  # access: to_field


def reverse_fk(request: HttpRequest, alias: str) -> HttpResponse:
    orders = list(Order.objects.using(alias).order_by("number"))  # parent: reverse_fk
    return _done([list(order.lines.all()) for order in orders])  # access: reverse_fk


def many_to_many(request: HttpRequest, alias: str) -> HttpResponse:
    products = list(Product.objects.using(alias).order_by("id"))  # parent: m2m
    return _done([[t.name for t in p.tags.all()] for p in products])  # access: m2m


def reverse_many_to_many(request: HttpRequest, alias: str) -> HttpResponse:
    tags = list(Tag.objects.using(alias).order_by("id"))  # parent: reverse_m2m
    return _done([[p.sku for p in tag.products.all()] for tag in tags])  # access: reverse_m2m


def count(request: HttpRequest, alias: str) -> HttpResponse:
    orders = list(Order.objects.using(alias).order_by("number"))  # parent: count
    return _done([order.lines.count() for order in orders])  # access: count


def exists(request: HttpRequest, alias: str) -> HttpResponse:
    orders = list(Order.objects.using(alias).order_by("number"))  # parent: exists
    found = [order.lines.filter(quantity__gt=1).exists() for order in orders]  # access: exists
    return _done(found)


def prefetch_bypassed(request: HttpRequest, alias: str) -> HttpResponse:
    orders = list(Order.objects.using(alias).prefetch_related("lines"))  # parent: bypassed
    firsts = [order.lines.order_by("-quantity").first() for order in orders]  # access: bypassed
    return _done(firsts)


def raw_loop(request: HttpRequest, alias: str) -> HttpResponse:
    names = [f"c{i}" for i in range(6)]
    with connections[alias].cursor() as cursor:
        for name in names:
            sql = "SELECT id FROM nplusone_app_customer WHERE name = %s"
            cursor.execute(sql, [name])  # access: raw_loop
    return _done(names)


def template_loop(request: HttpRequest, alias: str) -> HttpResponse:
    orders = Order.objects.using(alias).order_by("number")
    return render(request, "nplusone_app/orders.html", {"orders": orders})


# -- must not be flagged as N001 ---------------------------------------------------------
def joined(request: HttpRequest, alias: str) -> HttpResponse:
    orders = Order.objects.using(alias).select_related("customer__profile")
    return _done([order.customer.profile.city for order in orders])


def prefetched(request: HttpRequest, alias: str) -> HttpResponse:
    orders = Order.objects.using(alias).prefetch_related("lines__product__tags")
    return _done([[line.product.tags.all() for line in order.lines.all()] for order in orders])


def annotated(request: HttpRequest, alias: str) -> HttpResponse:
    orders = Order.objects.using(alias).annotate(n=Count("lines"))
    return _done([order.n for order in orders])


def under_threshold(request: HttpRequest, alias: str) -> HttpResponse:
    orders = list(Order.objects.using(alias).order_by("number")[:3])
    return _done([order.customer.name for order in orders])


def different_sites(request: HttpRequest, alias: str) -> HttpResponse:
    customers = Customer.objects.using(alias)
    first = customers.order_by("id").first()
    last = customers.order_by("id").last()
    some = customers.filter(name__startswith="c").first()
    orders = Order.objects.using(alias).filter(number__gt=2).first()
    return _done([first, last, some, orders])


def bulk(request: HttpRequest, alias: str) -> HttpResponse:
    customer = Customer.objects.using(alias).order_by("id").first()
    Order.objects.using(alias).bulk_create(
        Order(customer=customer, number=100 + i) for i in range(10)
    )
    return _done("ok")


# -- N002: the same query twice, not in a loop --------------------------------------------
def best_customer(alias: str) -> Customer | None:
    return Customer.objects.using(alias).filter(name="c0").first()  # access: repeated


def _sidebar(alias: str) -> str:
    return str(best_customer(alias))


def repeated(request: HttpRequest, alias: str) -> HttpResponse:
    header = best_customer(alias)
    tags = Tag.objects.using(alias).count()  # access: repeated_count_1
    sidebar = _sidebar(alias)
    again = Tag.objects.using(alias).count()  # access: repeated_count_2
    return _done([header, sidebar, tags, again])
