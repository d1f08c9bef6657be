"""Feeds: RSS and Atom feeds polled on a durable schedule; each new entry becomes a post once."""
