"""Admin for users (django-unfold). Only system admins manage accounts."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from .models import ApiToken, User

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


@admin.register(ApiToken)
class ApiTokenAdmin(ModelAdmin):
    """Every API token with its last use; system admins revoke them (the key is never shown:
    only its hash is stored)."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "expires_at", "revoked_at", "revoked_reason"]
    list_filter = ["revoked_reason"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = ["user", "prefix", "name", "created_at", "last_used_at", "expires_at", "revoked_at", "revoked_reason"]
    fields = readonly_fields
    actions = ["revoke"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.action(description=_("撤销所选令牌"))
    def revoke(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            token.revoke(ApiToken.REVOKED_ADMIN)
            count += 1
        self.message_user(request, _("已撤销 %(n)d 个令牌。") % {"n": count})
