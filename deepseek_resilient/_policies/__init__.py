"""Resilience policies, one module (or package) each owning its layer: retry (and the retry
budget), breaker, rate limit, coalescing, cache, and the innermost timed send. The router
and the deadline are the pipeline's own (``_core/pipeline.py``). Private."""
