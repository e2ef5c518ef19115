"""HTML pages and write endpoints of the demo site.

The problems are deliberate (see demo/PROBLEMS.md); comments name them by id.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from blog import fixes
from blog.forms import ArticleForm, CommentForm
from blog.models import Article, Category, Follow, PageView, Profile, Tag
from blog.queries import popular_tags, viewer_profile

User = get_user_model()

PAGE_SIZE = 20
PROFILE_PAGE_SIZE = 10
SLUG_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _paginate(request: HttpRequest, queryset: QuerySet[Article], per_page: int) -> Page:
    # Paginator.count runs SELECT COUNT(*) ... WHERE is_published: a boolean matching ~95%
    # of the rows, which no index would help (D2).
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _mark_favorites(articles: Iterable[Article], request: HttpRequest) -> None:
    """Flag the articles the viewer has favorited: one EXISTS query per row (P5)."""
    user = request.user
    favorited = fixes.favorited_ids(articles, request)
    if favorited is not None:  # the fixed version: one query for the page
        for article in articles:
            article.is_favorited = article.pk in favorited  # type: ignore[attr-defined]
        return
    for article in articles:
        article.is_favorited = (  # type: ignore[attr-defined]
            user.is_authenticated and article.favorited_by.filter(pk=user.pk).exists()
        )


def _has_favorited(article: Article, user_pk: int) -> bool:
    if fixes.copied("favorited_by_ids"):  # pareto.D001's copy (blog/mirrors.py)
        return user_pk in article.favorited_by_ids
    return article.favorited_by.filter(pk=user_pk).exists()


def _favorites_count(article: Article) -> int:
    if fixes.copied("favorited_by_ids"):
        return len(article.favorited_by_ids)
    return article.favorited_by.count()  # COUNT over the unbounded M2M (P15)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The global feed. Each row of includes/article_preview.html runs its own queries
    (P1-P4, P15), rows are ordered by an unindexed column (P9), and the popular tags are
    computed here and again by the sidebar (P8)."""
    articles = Article.objects.filter(is_published=True).order_by("-published_at")
    page = _paginate(request, fixes.preview_rows(articles), PAGE_SIZE)
    _mark_favorites(page, request)
    fixes.preview_copies(page)
    return render(request, "blog/home.html", {"page_obj": page, "trending": popular_tags()})


@login_required
@require_GET
def feed(request: HttpRequest) -> HttpResponse:
    """Articles by the authors the viewer follows."""
    me = viewer_profile(request.user)  # the navbar loads the same row again (P7)
    followed = Follow.objects.filter(follower=request.user).values("followee")
    articles = Article.objects.filter(author__in=followed, is_published=True).order_by(
        "-published_at"
    )
    page = _paginate(request, fixes.preview_rows(articles), PAGE_SIZE)
    _mark_favorites(page, request)
    fixes.preview_copies(page)
    return render(request, "blog/feed.html", {"page_obj": page, "me": me})


@require_GET
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tag = get_object_or_404(Tag, slug=slug)
    articles = tag.articles.filter(is_published=True).order_by("-published_at")
    page = _paginate(request, fixes.preview_rows(articles), PAGE_SIZE)
    _mark_favorites(page, request)
    fixes.preview_copies(page)
    return render(request, "blog/tag.html", {"tag": tag, "page_obj": page})


@require_GET
def tag_list(request: HttpRequest) -> HttpResponse:
    """All tags by popularity (the sidebar computes its top 20 as well)."""
    return render(request, "blog/tags.html", {"tags": popular_tags(limit=None)})


@require_GET
def category_detail(request: HttpRequest, code: str) -> HttpResponse:
    category = get_object_or_404(Category, code=code)  # 5-row table, no index on code (D1)
    articles = (
        Article.objects.filter(category=category, is_published=True)
        .select_related("author")
        .order_by("-published_at")
    )
    page = _paginate(request, articles, PAGE_SIZE)
    return render(request, "blog/category.html", {"category": category, "page_obj": page})


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    results: list[Article] = []
    if query:
        # A substring match on the title: a full scan of the articles (P14).
        results = list(
            Article.objects.filter(is_published=True, title__icontains=query)
            .select_related("author")
            .order_by("-published_at")[:50]
        )
    return render(request, "blog/search.html", {"query": query, "results": results})


@require_GET
def article_detail(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_object_or_404(
        Article.objects.select_related("author__profile", "category"),
        slug=slug,  # served by the unique index on slug (D3)
        is_published=True,
    )
    user = request.user
    # Every view is logged into a table that carries indexes nothing reads (P17-P22).
    PageView.objects.create(
        article=article,
        user=user if user.is_authenticated else None,
        path=request.path[:300],
        ip=request.META.get("REMOTE_ADDR", "")[:45],
        user_agent=request.headers.get("User-Agent", "")[:300],
        referrer=request.headers.get("Referer", "")[:300],
        created_at=timezone.now(),
    )
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)
    # WHERE article_id = %s ORDER BY created_at: the FK index leaves a sort (P11).
    comments = list(article.comments.select_related("author__profile").order_by("created_at"))
    context = {
        "article": article,
        "comments": comments,
        "tags": article.tag_info if fixes.copied("tag_info") else list(article.tags.all()),
        "favorites_count": _favorites_count(article),
        "me": viewer_profile(user),  # the navbar loads the same row again (P7)
        "is_favorited": user.is_authenticated and _has_favorited(article, user.pk),
        "is_following": user.is_authenticated
        and Follow.objects.filter(follower=user, followee=article.author).exists(),
        "form": CommentForm(),
    }
    return render(request, "blog/article.html", context)


@require_GET
def profile_detail(request: HttpRequest, username: str) -> HttpResponse:
    # Case-insensitive profile URLs: the unique index on username cannot serve iexact (P12).
    author = get_object_or_404(User.objects.select_related("profile"), username__iexact=username)
    # Filtered by author, ordered by created_at: the FK index leaves a sort (P10).
    articles = fixes.with_recent_comments(
        Article.objects.filter(author=author, is_published=True).order_by("-created_at")
    )
    page = _paginate(request, articles, PROFILE_PAGE_SIZE)
    for article in page:
        if fixes.enabled():
            recent = article.recent  # type: ignore[attr-defined]
            article.latest_comment = recent[0] if recent else None  # type: ignore[attr-defined]
            continue
        # order_by() on the prefetched relation starts a new query per row: the
        # prefetch above is wasted and this is an N+1 (P6).
        article.latest_comment = (  # type: ignore[attr-defined]
            article.comments.select_related("author").order_by("-created_at").first()
        )
    profile = getattr(author, "profile", None)
    neighbours: list[Profile] = []
    neighbours_count = 0
    if profile is not None and profile.location:
        # Equality on an unindexed column with many distinct values: two scans (P13).
        same_place = Profile.objects.filter(location=profile.location).exclude(user=author)
        neighbours_count = same_place.count()
        neighbours = list(same_place.select_related("user")[:5])
    user = request.user
    context = {
        "author": author,
        "profile": profile,
        "page_obj": page,
        "neighbours": neighbours,
        "neighbours_count": neighbours_count,
        "followers_count": Follow.objects.filter(followee=author).count(),
        "is_following": user.is_authenticated
        and Follow.objects.filter(follower=user, followee=author).exists(),
    }
    return render(request, "blog/profile.html", context)


@require_GET
def profile_favorites(request: HttpRequest, username: str) -> HttpResponse:
    author = get_object_or_404(User.objects.select_related("profile"), username__iexact=username)
    articles = Article.objects.filter(favorited_by=author, is_published=True).order_by(
        "-published_at"
    )
    page = _paginate(request, fixes.preview_rows(articles), PAGE_SIZE)
    _mark_favorites(page, request)
    fixes.preview_copies(page)
    return render(request, "blog/profile_favorites.html", {"author": author, "page_obj": page})


def _unique_slug(title: str) -> str:
    base = slugify(title)[:60].strip("-") or "article"
    while True:
        slug = f"{base}-{get_random_string(6, SLUG_ALPHABET)}"
        if not Article.objects.filter(slug=slug).exists():
            return slug


@login_required
@require_http_methods(["GET", "POST"])
def publish(request: HttpRequest) -> HttpResponse:
    """The editor: GET shows the form, POST publishes an article."""
    form = ArticleForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        now = timezone.now()
        article = Article.objects.create(
            author=request.user,
            title=data["title"],
            slug=_unique_slug(data["title"]),
            description=data["description"],
            body=data["body"],
            category=data["category"],
            created_at=now,
            published_at=now,
            is_published=True,
        )
        slugs: list[str] = data["tags"]
        tags = list(Tag.objects.filter(slug__in=slugs))
        known = {tag.slug for tag in tags}
        tags += [Tag.objects.create(name=slug, slug=slug) for slug in slugs if slug not in known]
        article.tags.set(tags)
        if _wants_json(request):
            return JsonResponse(
                {"slug": article.slug, "url": article.get_absolute_url()}, status=201
            )
        return redirect(article)
    status = 400 if request.method == "POST" else 200
    return render(request, "blog/editor.html", {"form": form}, status=status)


@login_required
@require_POST
def comment_create(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_object_or_404(Article, slug=slug, is_published=True)
    form = CommentForm(request.POST)
    if not form.is_valid():
        if _wants_json(request):
            return JsonResponse({"errors": form.errors}, status=400)
        return redirect(article)
    comment = article.comments.create(author=request.user, body=form.cleaned_data["body"])
    if _wants_json(request):
        return JsonResponse({"id": comment.pk, "article": article.slug}, status=201)
    return redirect(f"{article.get_absolute_url()}#comment-{comment.pk}")


@login_required
@require_POST
def favorite_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_object_or_404(Article, slug=slug, is_published=True)
    user = request.user
    favorited = not _has_favorited(article, user.pk)
    if favorited:
        article.favorited_by.add(user)
    else:
        article.favorited_by.remove(user)
    if _wants_json(request):
        count = _favorites_count(article)  # a copy follows the change at once
        return JsonResponse({"favorited": favorited, "favoritesCount": count})
    return redirect(article)


@login_required
@require_POST
def follow_toggle(request: HttpRequest, username: str) -> HttpResponse:
    target = get_object_or_404(User, username=username)
    following = False
    if target.pk != request.user.pk:  # following yourself is a no-op
        deleted, _ = Follow.objects.filter(follower=request.user, followee=target).delete()
        if not deleted:
            Follow.objects.create(follower=request.user, followee=target)
            following = True
    if _wants_json(request):
        return JsonResponse({"username": target.get_username(), "following": following})
    return redirect("blog:profile", username=target.get_username())
