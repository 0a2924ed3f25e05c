from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ledgerlink.ops"
    label = "ops"
    verbose_name = "Ledgerlink operations"
