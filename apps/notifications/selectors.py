"""Reading a user's notices."""

from .models import Notice


def unread_count(user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notice.objects.filter(recipient=user, read_at__isnull=True).count()


def notices_for(user, *, limit: int | None = None):
    qs = Notice.objects.filter(recipient=user).order_by("-created_at", "-pk")
    return list(qs[:limit] if limit else qs)
