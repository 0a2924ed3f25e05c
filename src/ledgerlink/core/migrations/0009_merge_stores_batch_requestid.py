from django.db import migrations


class Migration(migrations.Migration):
    """Merge of the two 0008 leaves (stores' merge and the batch requestid)."""

    dependencies = [
        ("core", "0008_merge_stores"),
        ("core", "0008_push_request_batch_requestid"),
    ]

    operations = []
