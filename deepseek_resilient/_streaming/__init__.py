"""Streams: SSE decoding, chunk accumulation, the commit point, splicing and idle watch, the stream
objects. Private."""
