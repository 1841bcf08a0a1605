#!/usr/bin/env bash
# The drop-in under openai-python 2.x (httpx): instructor and llama-index need openai < 3, so
# they run here, in a venv of their own, with the openai idioms and the drop-in tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv .venv-openai2
.venv-openai2/bin/pip install -q -e '.[dev,frameworks-openai2]'
.venv-openai2/bin/python -m pytest -q -p no:cacheprovider \
  tests/frameworks tests/test_openai_idioms.py tests/test_dropin.py
