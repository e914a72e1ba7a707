"""The core every part stands on: settings, extensions, errors, request input, text rules,
secrets, schema fields, domain events.
"""
