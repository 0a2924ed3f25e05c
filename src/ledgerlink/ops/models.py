"""Operations state: what the failure digests last told the admins."""

from django.db import models
from django.utils import timezone


class DigestState(models.Model):
    """The last notified figure of one digest trigger of one Company, so each growth (or each
    transition into a bad state) sends exactly one email.

    ``key`` is ``failed:<error_kind>`` (value: failed requests of that kind last notified),
    ``reconnect`` (1 while a needs-reconnect email is outstanding) or ``oldest_pending`` (1 while a
    queue-age email is outstanding).
    """

    company = models.ForeignKey("core.Company", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=80)
    last_count = models.PositiveIntegerField(default=0)
    notified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="digest_state_unique")]
        ordering = ["company_id", "key"]

    def __str__(self) -> str:
        return f"{self.company_id}:{self.key}={self.last_count}"
