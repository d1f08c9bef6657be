"""Jinja templates for the LLM prompts and the template replies, shipped in the wheel as package data."""
