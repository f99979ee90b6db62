"""The lock (requirements/*.txt, written by `make lock`) read as {package: version}, and the lab's own
environment built from it exactly as `make lab` builds it."""

import json
import os
import re
import subprocess
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "requirements"
# make test-latest (LATEST=1) installs the newest releases the ranges allow, not the lock.
LATEST = bool(os.environ.get("LATEST"))


def pins(lock: Path, environment: dict | None = None) -> dict[str, str]:
    """{canonical name: version} of the lock's pins whose marker holds here (or in `environment`)."""
    text = re.sub(r"\\\n\s*--hash=\S+", "", lock.read_text()).replace("\\\n", "")
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            (version,) = (spec.version for spec in requirement.specifier if spec.operator == "==")
            found[canonicalize_name(requirement.name)] = version
    return found


INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


def installed(python: Path) -> dict[str, str]:
    """{canonical name: version} of what the environment of `python` holds."""
    out = subprocess.run([str(python), "-c", INSTALLED], capture_output=True, text=True, check=True).stdout
    return {canonicalize_name(name): version for name, version in json.loads(out).items()}


def lab_venv() -> Path:
    """The lab's environment as `make lab` installs it (no test extras), kept in .venv-lab between runs."""
    venv = ROOT / (".venv-lab-latest" if LATEST else ".venv-lab")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    made = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "lab-install", f"VENV={venv}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if made.returncode != 0:
        raise AssertionError(f"make lab-install failed:\n{made.stdout[-3000:]}\n{made.stderr[-3000:]}")
    return venv
