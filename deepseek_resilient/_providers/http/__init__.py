"""Providers over HTTP: any OpenAI-compatible API, the DeepSeek preset, and sending, reading and
error translation. Private."""
