"""zoo: long-sequence Transformers sharing one sparse-attention core."""
__version__ = "0.1.0"
