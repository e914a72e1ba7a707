"""The request's edge: caching and hot reads, rate limits, auth, the embed script, health
endpoints.
"""
