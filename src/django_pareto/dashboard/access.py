"""Who may see the dashboard: active staff users, and nobody else."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

View = Callable[..., HttpResponseBase]


def staff_required(view: View) -> View:
    """Send anonymous users to ``settings.LOGIN_URL`` (with ``?next=``); refuse the others
    with 403 unless they are active staff.

    Not Django's ``staff_member_required``: it sends non-staff users to the admin's login
    page, which a project without the admin does not have, and a logged-in user who is
    refused should be told so rather than asked to log in again.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        # ModelBackend already refuses inactive users; a custom backend may not.
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("the pareto dashboard is for active staff users")
        return view(request, *args, **kwargs)

    return wrapped
