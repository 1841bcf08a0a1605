"""Resilience policies: retry, breaker, rate limit, coalescing, cache, router. Private."""
