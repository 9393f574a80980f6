"""``python -m zoo.train RECIPE ...`` and ``deepspeed --num_gpus N --module zoo.train RECIPE``."""
import sys

from .cli import main

sys.exit(main())
