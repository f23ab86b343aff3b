"""Rule-based synthetic reasoning problems with verified answers and checkable steps.

Imports only rewards (the sandbox runs code references; Registry) below it. Entry points:
- `data_gen.generate.generate(tasks, n, seed, level, overrides, split)` -> item dicts
  (`iter_items` streams them; `build_item(task, seed, index, cfg)` rebuilds one).
- `data_gen.registry.GENERATORS`: task name -> generator (config class, sampler, solver, scorer);
  `rg:NAME` draws from reasoning-gym through `data_gen.adapters.reasoning_gym`.
- `data_gen.tasks/`: one generator per file, with its config.
- `data_gen.core`: knobs, levels, splits, hashed seeds (`item_seed`, `hashed_seed`).
- `data_gen.render.gold_completion(item)`: the SFT target text.
- `data_gen.inject`: corrupted solutions with known first wrong steps; PRM / ProcessBench rows.
- `data_gen.writers`: atomic writes (`atomic_path`), JSONL / Parquet / `datasets` writers, `read_items`.
- `data_gen.datasets`: public datasets (GSM8K, MATH, NuminaMath, AIME, MBPP, HumanEval, APPS /
  CodeContests, PRM800K, Math-Shepherd) read as items or PRM rows; `read_rows` for every file layout.
- `cotrl gen` (data_gen.cli) on the command line (`--from FORMAT:PATH` converts a dataset).
"""
