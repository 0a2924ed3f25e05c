from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "ledgerlink.web"
    label = "web"
    verbose_name = "Ledgerlink admin area"
