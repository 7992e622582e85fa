"""The seeds' API (``cognigy-api-contract.md``): HTTP client, transport, statuses, OAuth token cache.

Pacing and the retry policy are shared with cognigy-v2 and sit one level up
(:mod:`tenantops.backends.pacing`, :mod:`tenantops.backends.retry`).
"""
