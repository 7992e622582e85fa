"""The seeds' API (``cognigy-api-contract.md``): HTTP client, OAuth token cache, pacing and retries."""
