from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "ledgerlink.core"
    label = "core"
    verbose_name = "Ledgerlink core"
