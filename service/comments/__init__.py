"""Comments: posting, reading, editing, likes, moderation, spam guards, Markdown, feeds,
erasure, and the comments API.
"""
