#!/usr/bin/env bash
# Install the peer libraries that benchmarks/step_time.py compares against, for the benchmark
# only: into benchmarks/.peers (git-ignored), never into the project's environment.
# --no-deps keeps pip from replacing the project's torch (Norse declares torchvision, which would
# pull another torch build); what they import besides torch (numpy, pandas, matplotlib, h5py) is
# already in the project's environment. Usage: bash benchmarks/setup_peers.sh [python]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${1:-$HERE/../.venv/bin/python}
"$PYTHON" -m pip install --no-deps --upgrade --target "$HERE/.peers" \
    snntorch==1.0.0 norse==1.1.0 nir==1.0.8 nirtorch==2.6
