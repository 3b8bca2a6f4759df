"""RelayLLM: efficient reasoning via collaborative decoding (arXiv 2601.05167)."""

__version__ = "0.1.0"
