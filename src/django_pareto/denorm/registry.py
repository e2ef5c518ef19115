"""Every mirror of every installed model, and which models' writes concern which mirrors."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.apps import apps
from django.db.models import Model

from django_pareto.denorm.fields import MirrorFieldMixin
from django_pareto.denorm.mirror import Mirror


def mirrors() -> list[Mirror]:
    """Every mirror of every installed model (relations resolved and checked)."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue  # a proxy's fields are its concrete model's
        for model_field in model._meta.local_fields:
            if isinstance(model_field, MirrorFieldMixin):
                mirror = model_field.mirror
                mirror.relation  # noqa: B018  (resolve now: a wrong one fails loudly, at once)
                found.append(mirror)
    return found


@dataclass
class Index:
    """Mirrors by the concrete model whose writes change them."""

    by_through: dict[type[Model], list[Mirror]] = field(default_factory=lambda: defaultdict(list))
    by_related: dict[type[Model], list[Mirror]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, found: list[Mirror]) -> Index:
        index = cls()
        for mirror in found:
            rel = mirror.relation
            index.by_through[rel.through._meta.concrete_model].append(mirror)  # type: ignore[index]
            index.by_related[rel.related_model._meta.concrete_model].append(mirror)  # type: ignore[index]
        return index

    def through(self, model: type[Model]) -> list[Mirror]:
        return self.by_through.get(model._meta.concrete_model, [])  # type: ignore[arg-type]

    def related(self, model: type[Model]) -> list[Mirror]:
        return self.by_related.get(model._meta.concrete_model, [])  # type: ignore[arg-type]


_index = Index()


def index() -> Index:
    return _index


def rebuild() -> Index:
    """Index the installed mirrors (the app's ready(); again when INSTALLED_APPS change)."""
    global _index
    _index = Index.of(mirrors())
    return _index


def senders(model: type[Model]) -> list[type[Model]]:
    """The model and its proxies: signals are sent with the class of the instance."""
    concrete = model._meta.concrete_model or model
    proxies = [m for m in apps.get_models() if m._meta.proxy and m._meta.concrete_model is concrete]
    return [concrete, *proxies]
