"""What every run needs: the shared optimisation runtime (optim: optimizer, LR schedule, clipping,
non-finite-loss policy), checkpoints, metrics, the progress bar, the run directory, distributed
helpers, FSDP2 sharding (sharding: the accelerate plugin on CPU, gathers, layout checks) and
sharded checkpoints (sharded_checkpoint: torch.distributed.checkpoint), fault-injection points."""
