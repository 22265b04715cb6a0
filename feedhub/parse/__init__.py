"""Fetched bytes into typed, normalized entries; the only stage that sees feedparser."""
