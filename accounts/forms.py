"""Forms for the account pages, built on Django's own auth forms."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    AuthenticationForm,
    PasswordChangeForm,
    SetPasswordForm,
    UserChangeForm,
    UserCreationForm,
    UsernameField,
)

User = get_user_model()


class ErrorsUnderThePassword:
    """Puts the password validators' errors (too short, too common) under the password, not under its confirmation
    where Django reports them."""

    password_field_name = "password1"  # noqa: S105 - a field's name

    def validate_password_for_user(self, user, *args, **kwargs) -> None:
        super().validate_password_for_user(user, self.password_field_name)


class SignupForm(ErrorsUnderThePassword, UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)
        widgets = {"email": forms.EmailInput(attrs={"autocomplete": "email"})}

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if User.objects.filter_email(email).exists():
            raise forms.ValidationError("An account with this email address already exists.")
        return email


class SignInForm(AuthenticationForm):
    # AuthenticationForm sets max_length after building the field, which sizes the input but adds no validator: an
    # over-long address went on to authenticate(), and django-axes failed to record the failure in its 255-character
    # column (a 500).
    username = UsernameField(
        max_length=User._meta.get_field(User.USERNAME_FIELD).max_length,
        error_messages={
            "max_length": "An email address has at most %(limit_value)d characters (this one has %(show_value)d)."
        },
        # An email keyboard on phones; UsernameField adds autocomplete="username", which password managers expect.
        widget=forms.EmailInput(attrs={"autofocus": True}),
    )


class AdminSignInForm(SignInForm, AdminAuthenticationForm):
    """The admin's sign-in, with the site's check of the email address."""


class ChangePasswordForm(ErrorsUnderThePassword, PasswordChangeForm):
    password_field_name = "new_password1"  # noqa: S105 - a field's name


class ResetPasswordForm(ErrorsUnderThePassword, SetPasswordForm):
    password_field_name = "new_password1"  # noqa: S105 - a field's name


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "unit_system")


class DeleteAccountForm(forms.Form):
    """Asks for the password again, so that a left-open session cannot delete the account."""

    password = forms.CharField(label="Your password", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password


class AdminAddUserForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)


class AdminChangeUserForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
