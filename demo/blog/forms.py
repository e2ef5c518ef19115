from __future__ import annotations

from django import forms
from django.utils.text import slugify

from blog.models import Category


class ArticleForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(max_length=300, required=False)
    body = forms.CharField(widget=forms.Textarea)
    # Validating the choice runs Category.objects.get(code=...) on a 5-row table (D1).
    category = forms.ModelChoiceField(
        queryset=Category.objects.order_by("name"), to_field_name="code", empty_label=None
    )
    tags = forms.CharField(
        max_length=300, required=False, help_text="Comma-separated tags, e.g. django, python"
    )

    def clean_tags(self) -> list[str]:
        names = [name.strip() for name in self.cleaned_data["tags"].split(",")]
        slugs: list[str] = []
        for name in names:
            slug = slugify(name)[:60]
            if slug and slug not in slugs:
                slugs.append(slug)
        if len(slugs) > 10:
            raise forms.ValidationError("At most 10 tags.")
        return slugs


class CommentForm(forms.Form):
    body = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
