from django.conf import settings
from django.db import models

from attune_qbo.core.models import TimeStampedModel


class Company(TimeStampedModel):
    """A tenant: one business using the product. Every row of tenant data carries `company`."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    default_currency = models.CharField(max_length=3, default="USD")
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166-1 alpha-2")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    STAFF = "staff", "Staff"
    MEMBER = "member", "Member"


ROLE_RANK = {Role.MEMBER: 1, Role.STAFF: 2, Role.ADMIN: 3}


class Membership(TimeStampedModel):
    """A user's place in a Company. Roles nest: admin ⊃ staff ⊃ member."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        ordering = ["company__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "company"], name="uniq_membership_user_company")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.role})"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(minimum)]
