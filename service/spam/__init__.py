"""Spam guards that learn and that the author writes: the per-site learning filter, blocked
words and patterns, blocked commenters, and the proof-of-work challenge (issue 19)."""
