from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig


class AccordAdminSite(AdminSite):
    site_header = "Accord administration"

    def has_permission(self, request):
        # Superusers only: staff flags are not a way into the admin
        # (SECURITY.md A5).
        return request.user.is_active and request.user.is_superuser


class AccordAdminConfig(AdminConfig):
    default_site = "accord.admin.AccordAdminSite"
