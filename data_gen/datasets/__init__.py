"""Public datasets as the project's items: readers for the layouts they are published in.

- `files`: rows of a JSONL/JSON, CSV or Parquet file or a `datasets` directory (`read_rows`,
  shared by every reader in the project).
- `mathsets`: GSM8K (calculator annotations -> checkable steps), MATH / MATH-500, NuminaMath-CoT, AIME.
- `codesets`: MBPP, HumanEval, stdin/stdout sets (APPS, CodeContests) for the `code_tests` reward.
- `load`: the format registry (`FORMATS`), column checks, bad-row accounting, `load_items`
  (recipes' `data.source: file`, `cotrl eval --format`, `cotrl gen --from`) and PRM stepwise
  rows (PRM800K, Math-Shepherd) through the same path.
"""
