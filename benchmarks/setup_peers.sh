#!/usr/bin/env bash
# Creates the interpreters of the systems the benchmarks compare flowstone with.
# Each peer gets its own virtual environment under benchmarks/.peers/, so none of them
# becomes a dependency of flowstone. Safe to run again: it only installs what is missing.
set -euo pipefail

DAGSTER_VERSION="1.13.29"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peers="$here/.peers"
dagster_env="$peers/dagster"

mkdir -p "$peers"

if [[ ! -x "$dagster_env/bin/python" ]]; then
    python3 -m venv "$dagster_env"
fi

installed="$("$dagster_env/bin/python" -c 'import importlib.metadata as m; print(m.version("dagster"))' 2>/dev/null || true)"
if [[ "$installed" != "$DAGSTER_VERSION" ]]; then
    "$dagster_env/bin/python" -m pip install --quiet --upgrade pip
    "$dagster_env/bin/python" -m pip install --quiet "dagster==$DAGSTER_VERSION"
fi

echo "dagster $("$dagster_env/bin/python" -c 'import importlib.metadata as m; print(m.version("dagster"))') in $dagster_env"
