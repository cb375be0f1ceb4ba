from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.forms import DeleteAccountForm, ProfileForm, SignupForm
from accounts.services import delete_account
from config.redirects import safe_return_to
from vehicles.services.disconnect import DisconnectFailed, Outcome


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    # Sign-up can interrupt a journey (e.g. /login, which starts Connect): continue it afterwards.
    next_url = safe_return_to(request.POST.get("next") or request.GET.get("next"))
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
        except IntegrityError:
            # A sign-up with the same address committed between the form's check and this insert. Checked again, the
            # form now finds that account and says so as usual; if it still finds nothing wrong, the error is real.
            form = SignupForm(request.POST)
            if form.is_valid():
                raise
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your account is ready.")
            return redirect(next_url or "home")
    return render(request, "accounts/signup.html", {"form": form, "next": next_url})


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your profile was saved.")
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        user = request.user
        try:
            outcomes = delete_account(user=user)
        except DisconnectFailed as exc:
            messages.error(request, f"Your account was not deleted: a car could not be disconnected. {exc}")
            return redirect("accounts:delete")
        logout(request)
        messages.success(request, "Your account and everything in it were deleted.")
        if kept := outcomes.count(Outcome.KEPT_AT_SMARTCAR):
            messages.info(request, kept_cars_message(kept=kept, revoked=outcomes.count(Outcome.REVOKED)))
        return redirect("home")
    return render(request, "accounts/delete.html", {"form": form})


def kept_cars_message(*, kept: int, revoked: int) -> str:
    """What account deletion did at Smartcar, when another account here still holds some of the cars."""
    cars = "One of your cars is" if kept == 1 else f"{kept} of your cars are"
    stay = "it stays" if kept == 1 else "they stay"
    message = f"{cars} also connected to another account here, so {stay} connected through Smartcar for it."
    if revoked:
        message += f" The other {revoked} {'was' if revoked == 1 else 'were'} disconnected at Smartcar."
    return message


class SignOutView(auth_views.LogoutView):
    """Django's sign-out (POST only), which then says it happened."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You are signed out.")
        return response
