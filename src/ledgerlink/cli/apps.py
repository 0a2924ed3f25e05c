from django.apps import AppConfig


class CliConfig(AppConfig):
    """Holds the management commands (``management/commands``); no models."""

    name = "ledgerlink.cli"
    label = "cli"
    verbose_name = "Ledgerlink commands"
