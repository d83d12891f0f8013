"""Admin for users (django-unfold). Only system admins manage accounts."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from .models import User

admin.site.unregister(Group)
admin.site.unregister(TokenProxy)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "get_full_name", "role", "enterprise", "region", "is_active", "last_login"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["username", "first_name", "last_name", "email", "enterprise__name", "enterprise__uscc"]
    raw_id_fields = ["enterprise", "region"]
    fieldsets = BaseUserAdmin.fieldsets + (
        (_("角色与管辖"), {"fields": ("role", "enterprise", "region", "organisation", "phone")}),
    )
    add_fieldsets = BaseUserAdmin.add_fieldsets + (
        (_("角色与管辖"), {"fields": ("role", "enterprise", "region")}),
    )

    def has_module_permission(self, request):
        return request.user.is_superuser


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass
