"""People who sign in: a custom user whose login is the email address."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower


class UserManager(DjangoUserManager):
    """Creates users by email, and finds them by email whatever its case."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        # Sign-in and createsuperuser land here: the address a person types may differ in case from the one
        # they signed up with. Lower() on both sides matches the unique index exactly, and can use it.
        return self.filter_email(username).get()

    def filter_email(self, email: str) -> models.QuerySet:
        return self.alias(email_lower=Lower("email")).filter(email_lower=Lower(Value(email)))


class User(AbstractUser):
    """A person with a login; `email` is the username and is unique regardless of case."""

    class UnitSystem(models.TextChoices):
        METRIC = "metric", "Metric (km, kPa)"
        IMPERIAL = "imperial", "Imperial (miles, psi)"

    username = None
    # unique=True is what contrib.auth requires of a login field; the constraint below adds "regardless of case".
    email = models.EmailField("email address", max_length=254, unique=True)

    unit_system = models.CharField("units", max_length=10, choices=UnitSystem.choices, default=UnitSystem.METRIC)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="An account with this email address already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.email
