"""The staff console's page base (/ops/): staff only, never cached, a strict
Content-Security-Policy. Each room's views build on it; it imports no room."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.views import View

# Pages that only load this site's own files: no inline script or style, no third parties.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Acting on rollouts needs this on top of staff status.
PERMISSION = "ops.operate_rollout"


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "ops/forbidden.html", {"message": message}, status=403)


class ConsolePage(View):
    """Every console page: staff only, never cached, a strict Content-Security-Policy."""

    operator_only = False
    nav = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        response: HttpResponseBase
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            response = forbidden(request, "The ops console is for staff accounts only.")
        elif self.operator_only and not user.has_perm(PERMISSION):
            response = forbidden(
                request,
                "Acting on rollouts needs the “operate rollouts” permission; ask an administrator.",
            )
        else:
            response = super().dispatch(request, *args, **kwargs)
        add_never_cache_headers(response)
        response.setdefault("Content-Security-Policy", CSP)
        return response

    def page(
        self, request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
    ) -> HttpResponse:
        context = {"nav": self.nav, "can_operate": request.user.has_perm(PERMISSION), **context}
        return render(request, template, context, status=status)


def see_other(url: str) -> HttpResponse:
    # 303: the browser follows a POST's answer with a GET, so a reload does not repeat it.
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response
