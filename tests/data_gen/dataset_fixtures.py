"""Small rows in each public dataset's published layout (field names and answer conventions as
published; written here by hand, never downloaded), and writers for JSONL, Parquet and a saved
`datasets` directory. Shared by the converter tests and the recipe/eval tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GSM8K = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
        "clips in May. How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?",
        "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\n"
        "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
    },
    {
        "question": "A shop sells 3 boxes of 400 pens. How many pens does it sell?",
        "answer": "It sells <<3*400=1200>>1200 pens.\n#### 1,200",
    },
]

MATH = [
    {
        "problem": "What is $\\frac{1}{2} + \\frac{1}{4}$?",
        "level": "Level 1",
        "type": "Prealgebra",
        "solution": "We have $\\frac{1}{2} + \\frac{1}{4} = \\frac{2}{4} + \\frac{1}{4}$.\n"
        "So the sum is $\\boxed{\\frac{3}{4}}$.",
    },
    {
        "problem": "Compute $2^{10}$.",
        "level": "Level 2",
        "type": "Algebra",
        "solution": "First $2^5 = \\boxed{32}$, so $2^{10} = 32^2 = \\boxed{1024}$.",
    },
]

MATH500 = [
    {
        "problem": "How many positive divisors does 12 have?",
        "solution": "The divisors are 1, 2, 3, 4, 6 and 12, so there are $\\boxed{6}$.",
        "answer": "6",
        "subject": "Number Theory",
        "level": 2,
        "unique_id": "test/number_theory/1.json",
    },
]

NUMINA = [
    {
        "source": "synthetic_math",
        "problem": "Find $x$ if $3x + 2 = 11$.",
        "solution": "Subtract 2: $3x = 9$. Divide by 3: $x = \\boxed{3}$.",
        "messages": [
            {"role": "user", "content": "Find $x$ if $3x + 2 = 11$."},
            {"role": "assistant", "content": "Subtract 2: $3x = 9$. Divide by 3: $x = \\boxed{3}$."},
        ],
    },
    {
        "source": "olympiads",
        "problem": "Prove that the sum of two even numbers is even.",
        "solution": "Write them as 2a and 2b; their sum 2(a + b) is even.",
        "messages": [],
    },
]

AIME = [  # AIME 2024 on the hub spells its columns with capitals
    {
        "ID": "2024-I-1",
        "Problem": "Find the remainder when 2024 is divided by 1000.",
        "Solution": "...",
        "Answer": 24,
    },
    {"ID": "2024-I-2", "Problem": "Find 7 times 11.", "Solution": "7*11 = 77", "Answer": 77},
]

MBPP = [
    {
        "task_id": 2,
        "text": "Write a function to find the shared elements from the given two lists.",
        "code": "def similar_elements(test_tup1, test_tup2):\n  res = tuple(set(test_tup1) & set(test_tup2))\n"
        "  return (res) ",
        "test_list": [
            "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
            "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))",
        ],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {
        "task_id": 3,
        "text": "Write a python function to identify non-prime numbers.",
        "code": "import math\ndef is_not_prime(n):\n    for i in range(2, int(math.sqrt(n)) + 1):\n"
        "        if n % i == 0:\n            return True\n    return False",
        "test_list": ["assert is_not_prime(2) == False", "assert is_not_prime(10) == True"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
]

HUMANEVAL = [
    {
        "task_id": "HumanEval/0",
        "prompt": 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n',
        "canonical_solution": "    return a + b\n",
        "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n"
        "    assert candidate(-1, 1) == 0\n",
        "entry_point": "add",
    },
]

APPS = [
    {
        "problem_id": 4000,
        "question": "Read two integers a and b and print their sum.",
        "solutions": json.dumps(["a, b = map(int, input().split())\nprint(a + b)\n"]),
        "input_output": json.dumps({"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}),
        "difficulty": "introductory",
        "url": "https://example.invalid/apps/4000",
        "starter_code": "",
    },
]

CODE_CONTESTS = [
    {
        "name": "1000_A. Double",
        "description": "Read an integer n and print 2n.",
        "public_tests": {"input": ["3\n"], "output": ["6\n"]},
        "private_tests": {"input": ["10\n"], "output": ["20\n"]},
        "generated_tests": {"input": [], "output": []},
        "source": 2,
        "difficulty": 7,
        "solutions": {"language": [2, 3], "solution": ["int main(){}", "print(2 * int(input()))\n"]},
    },
]

ITEMS = [
    {
        "id": "add-0",
        "task": "arith",
        "prompt": "Compute 3 + 4.",
        "messages": [{"role": "user", "content": "Compute 3 + 4."}],
        "answer": "7",
        "solution_steps": ["Add: 3 + 4 = 7"],
        "difficulty": {"level": 1},
        "meta": {"step_check": "equal"},
    },
]

PRM800K = [
    {
        "question": {"problem": "What is 2 + 3 * 4?", "ground_truth_answer": "14"},
        "label": {
            "steps": [
                {"completions": [{"text": "3 * 4 = 12", "rating": 1}], "chosen_completion": 0},
                {"completions": [{"text": "2 + 12 = 15", "rating": -1}], "chosen_completion": None},
            ],
            "finish_reason": "found_error",
        },
    },
]

MATH_SHEPHERD = [
    {
        "input": "What is 2 + 3 * 4? Step 1: 3 * 4 = 12 ки\nStep 2: 2 + 12 = 15 ки",
        "label": "What is 2 + 3 * 4? Step 1: 3 * 4 = 12 +\nStep 2: 2 + 12 = 15 -",
        "task": "GSM8K",
    },
]

# format -> rows as published (MATH-500 and CodeContests rows are tested on their own)
PUBLISHED: dict[str, list[dict[str, Any]]] = {
    "gsm8k": GSM8K,
    "math": MATH,
    "numina": NUMINA[:1],
    "aime": AIME,
    "mbpp": MBPP,
    "humaneval": HUMANEVAL,
    "stdio": APPS,
    "items": ITEMS,
}


def write(rows: list[dict[str, Any]], path: Path, layout: str = "jsonl") -> Path:
    """`rows` as JSONL, Parquet or a saved `datasets` directory (`hf`)."""
    if layout == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif layout == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        import datasets

        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path
