"""Process reward models: stepwise data, a token-classification PRM, converters from public
formats, Math-Shepherd Monte Carlo labels and ProcessBench-style evaluation."""
