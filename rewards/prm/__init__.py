"""Process reward models: stepwise data, a token-classification PRM, converters from public
formats and ProcessBench-style evaluation (Math-Shepherd Monte Carlo labels need a sampler, so
they live in `rlhf.rollout.mc_labels`)."""
