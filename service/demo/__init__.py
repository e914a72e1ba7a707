"""The demo blog: its page and its data."""
