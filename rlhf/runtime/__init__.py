"""What every run needs: the shared optimisation runtime (optim: optimizer, LR schedule, clipping,
non-finite-loss policy), checkpoints, metrics, the progress bar, the run directory, distributed
helpers, fault-injection points."""
