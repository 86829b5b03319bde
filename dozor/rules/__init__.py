"""Alert rules: saved queries that turn archive events into alerts."""
