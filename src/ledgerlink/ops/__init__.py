"""Operations (Django app "ops"): failure digests, retention, backups, metrics, stats, health endpoints."""
