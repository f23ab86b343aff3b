"""What every run needs: checkpoints, distributed helpers, the run directory, metrics, fault-injection points."""
