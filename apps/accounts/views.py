"""Log-in pages. Lock-out after repeated failures is django-axes' (see settings AXES_*)."""

from django.contrib.auth.views import LoginView


class PortalLoginView(LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
