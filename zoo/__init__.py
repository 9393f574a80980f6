"""zoo: long-sequence Transformers sharing one sparse-attention core."""
__version__ = "0.1.0"

from .registry import (create_model, list_models, load_checkpoint, model_info, register_model,  # noqa: E402
                       save_checkpoint)

__all__ = ["__version__", "create_model", "list_models", "load_checkpoint", "model_info", "register_model",
           "save_checkpoint"]
