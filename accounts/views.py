from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from accord.errors import InvalidInput
from projects import services as project_services

from .forms import InviteAcceptForm
from .throttle import client_ip, login_attempt, login_succeeded

# Form views answer GET and POST only: Django's form views also take PUT,
# which no page sends (ASVS 13.2.1).
FORM_METHODS = ["get", "post", "options"]


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    http_method_names = FORM_METHODS
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        verdict = login_attempt(username=request.POST.get("username", ""), ip=client_ip(request))
        if not verdict.allowed:
            response = render(
                request,
                "accounts/login.html",
                {"form": self.get_form_class()(request), "throttled": True},
                status=429,
            )
            response["Retry-After"] = str(verdict.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        login_succeeded(username=form.get_user().get_username())
        return super().form_valid(form)


class LogoutView(auth_views.LogoutView):
    http_method_names = ["post", "options"]


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    http_method_names = FORM_METHODS
    success_url = reverse_lazy("projects:list")

    def form_valid(self, form):
        # Django keeps this session alive (update_session_auth_hash) and every
        # other session of the user dies with the old password hash; API
        # tokens die because they carry the old password's fingerprint.
        response = super().form_valid(form)
        messages.success(
            self.request, "Password changed. Your other sessions and API tokens were revoked."
        )
        return response


@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    invite = project_services.invite_lookup(token=token)
    if invite is None:
        return render(request, "accounts/invite_invalid.html", status=404)
    form = InviteAcceptForm(request.POST or None, email=invite.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = project_services.invite_accept(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except InvalidInput as exc:
            # Someone took the username between the form's check and ours.
            for error in exc.errors:
                form.add_error(
                    error["field"] if error["field"] in form.fields else None, error["reason"]
                )
            return render(
                request, "accounts/invite_accept.html", {"form": form, "invite": invite}, status=400
            )
        if user is None:
            return render(request, "accounts/invite_invalid.html", status=404)
        auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("projects:detail", project_id=invite.project_id)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "accounts/invite_accept.html", {"form": form, "invite": invite}, status=status
    )
