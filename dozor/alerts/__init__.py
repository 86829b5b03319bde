"""From the archive's change feed to an outbox of alerts (delivery is the bot's job)."""
