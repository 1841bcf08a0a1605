"""The openai-python drop-in: a resilient httpx/httpx2 transport (:mod:`.transport`) and
genuine ``openai.OpenAI`` / ``openai.AsyncOpenAI`` subclasses that carry it (:mod:`.clients`).
Nothing here imports openai until a drop-in client is built."""
