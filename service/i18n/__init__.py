"""Every text a reader or author sees, in each language: the one message table (split by area)
and its lookup, text(key, lang).
"""
