"""Providers in-process: llama.cpp and transformers, the embedded model, worker threads and micro-
batching. Private."""
