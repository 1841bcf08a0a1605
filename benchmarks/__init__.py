"""The benchmark suite of deepseek_resilient: ``python -m benchmarks [--quick]``.

Each module is a section that also runs alone (``python -m benchmarks.bench_overhead``, ...).
See ``benchmarks/__main__.py`` and ``docs/benchmarks.md``.
"""
