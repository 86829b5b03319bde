"""dozor: archive public Telegram channels faithfully and alert a team on what they post."""

__version__ = "0.1.0"
