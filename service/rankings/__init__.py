"""Rankings: rank history and best ranks, badges (SVG, PNG), rank import and export, and the
rankings API.
"""
