"""The Django admin is for our own staff and for company staff. It must never show one tenant's rows to
another: every ModelAdmin of tenant data derives from `TenantScopedAdmin`."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404

from attune_qbo.tenants.models import Role
from attune_qbo.tenants.selectors import company_ids_for


def _company_ids(request, role: str) -> list[int]:
    """The companies where this request's user holds `role`, read once per request: every admin page's sidebar asks
    each registered ModelAdmin for its permissions (30 identical queries a page otherwise)."""
    cache = request.__dict__.setdefault("_tenant_company_ids", {})
    key = (getattr(request.user, "pk", None), role)
    if key not in cache:
        cache[key] = company_ids_for(user=request.user, minimum_role=role)
    return cache[key]


class TenantScopedAdmin(admin.ModelAdmin):
    """Non-superusers see only the companies where they are staff or admin; another company's object is a
    404 (never a redirect that confirms it exists).

    `read_only` admins (money and history: invoices, payments, audit) are views for everyone: changes go
    through the services, which validate them and emit the signals the integration listens to.
    """

    company_lookup = "company"
    read_only = True
    # Rows company admins may add, change and delete in their own companies (e.g. QuickBooks mappings).
    editable_by_company_admins = False

    def get_list_filter(self, request):
        """A plain `company` filter would list every company's name; list only those in the user's rows."""
        return [
            (name, admin.RelatedOnlyFieldListFilter) if name in ("company", self.company_lookup) else name
            for name in super().get_list_filter(request)
        ]

    def _scoped_company_ids(self, request) -> list[int]:
        return _company_ids(request, Role.STAFF)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.company_lookup}__in": self._scoped_company_ids(request)})

    def has_module_permission(self, request) -> bool:
        return (
            request.user.is_active
            and request.user.is_staff
            and (request.user.is_superuser or bool(self._scoped_company_ids(request)))
        )

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def _admin_company_ids(self, request) -> list[int]:
        return _company_ids(request, Role.ADMIN)

    def _may_edit(self, request, obj=None) -> bool:
        if self.read_only:
            return False
        if request.user.is_superuser:
            return True
        if not (self.editable_by_company_admins and request.user.is_staff):
            return False
        admin_of = self._admin_company_ids(request)
        return bool(admin_of) and (obj is None or getattr(obj, f"{self.company_lookup}_id", None) in admin_of)

    def has_add_permission(self, request) -> bool:
        return self._may_edit(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_edit(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == self.company_lookup and not request.user.is_superuser:
            from attune_qbo.tenants.models import Company

            kwargs["queryset"] = Company.objects.filter(pk__in=self._admin_company_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _ensure_visible(self, request, object_id) -> None:
        if object_id is not None and not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404("Not found.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._ensure_visible(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._ensure_visible(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._ensure_visible(request, object_id)
        return super().delete_view(request, object_id, extra_context)


# --- the stock admins are for the team running attune (superusers) only -------------------------------------
# A tenant's admin who is also Django staff (e.g. to look at QuickBooks syncs) must not browse, or probe for the
# existence of, users, groups or the task queue. Their pages answer as if they did not exist.


class SuperuserOnlyAdminMixin:
    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def _superuser_or_404(self, request):
        if not self.has_module_permission(request):
            raise Http404("Not found.")

    def changelist_view(self, request, extra_context=None):
        self._superuser_or_404(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._superuser_or_404(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        self._superuser_or_404(request)
        return super().add_view(request, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._superuser_or_404(request)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._superuser_or_404(request)
        return super().history_view(request, object_id, extra_context)


SUPERUSER_ONLY_APPS = ("auth", "django_q", "axes")


def restrict_stock_admins(site=admin.site) -> None:
    """Re-register every ModelAdmin of the apps above (users, groups, django-q2's queue, axes' attempts)
    behind `SuperuserOnlyAdminMixin`."""
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label not in SUPERUSER_ONLY_APPS or isinstance(model_admin, SuperuserOnlyAdminMixin):
            continue
        restricted = type(
            f"SuperuserOnly{type(model_admin).__name__}", (SuperuserOnlyAdminMixin, type(model_admin)), {}
        )
        site.unregister(model)
        site.register(model, restricted)
