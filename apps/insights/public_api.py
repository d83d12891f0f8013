"""Open-data API under /api/v1/public/: published, disclosure-safe cells only."""

urlpatterns: list = []
