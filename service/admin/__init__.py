"""The author's admin pages and their texts."""
