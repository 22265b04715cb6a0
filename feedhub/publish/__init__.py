"""Rendering and writing the published site: feeds, front page, OPML, health feed."""
