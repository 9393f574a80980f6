"""``python -m zoo.train RECIPE ...`` and ``deepspeed --num_gpus N --module zoo.train RECIPE``.

A launched rank leaves through ``os._exit`` once the run is over (checkpoints, metrics and logs
written, the process group destroyed, output flushed): an interpreter's normal teardown sometimes
aborted a rank with "terminate called without an active exception" after a finished CPU run (a
native thread still joinable at static destruction; 1 in ~10 two-rank runs, session 13), which
made the launcher report a failure for a run that had succeeded."""
import gc
import os
import sys

from .cli import main

code = main()
if "LOCAL_RANK" in os.environ or any(a.startswith("--local_rank") for a in sys.argv):
    gc.collect()  # finalizes the data loaders' iterators: their worker processes shut down cleanly
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
