"""Client-side rate limiting: the layer, the limiter and its token buckets. Private."""
