"""Read the job folders of Hydra multirun sweeps: overrides, seed and metrics of every job.

A job folder is any folder holding `.hydra/overrides.yaml` (jobs may nest, e.g. a `subdir` with a slash).
Its `metrics.json` is written last, so a folder without one is an unfinished or failed run, and one with an
`error.txt` a failed one (with a metrics.json too, two jobs shared the folder): skipped with one warning line
naming it, and never counted.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from labelsmooth.run.metrics_file import ERROR, METRICS
from labelsmooth.run.neutral import neutral_override, override_key


@dataclass(frozen=True, eq=False)  # hashed by identity: a job is one folder
class Job:
    folder: Path
    # The job's overrides without `seed=…` and `hydra.…` (these make its configuration).
    overrides: tuple[str, ...]
    seed: int | None
    # Numeric entries of metrics.json (flat keys such as `test/f1`).
    metrics: dict[str, float]

    def value(self, key: str) -> Any:
        """The job's value of a config key: from its overrides, else from its saved `.hydra/config.yaml`."""
        for override in self.overrides:
            name, _, value = override.lstrip("+~").partition("=")
            if name == key:
                return yaml.safe_load(value)
        cfg = OmegaConf.load(self.folder / ".hydra" / "config.yaml")
        return OmegaConf.select(cfg, key, throw_on_resolution_failure=False)


def _is_ignored(override: str) -> bool:
    """Not part of a job's configuration: its seed, and the settings that never change a result."""
    return override_key(override) == "seed" or neutral_override(override)


def read_jobs(sweep_dirs: list[Path], warn=None) -> list[Job]:
    """Finished jobs of the sweeps, in folder order; unfinished ones are reported through `warn`."""
    warn = warn or (lambda line: print(line, file=sys.stderr))
    jobs = []
    for sweep_dir in sweep_dirs:
        if not Path(sweep_dir).is_dir():
            raise SystemExit(f"{sweep_dir}: no such sweep folder")
        found = sorted(Path(sweep_dir).glob("**/.hydra/overrides.yaml"))
        if not found:
            raise SystemExit(f"{sweep_dir}: no job folders (none holds .hydra/overrides.yaml)")
        for overrides_file in found:
            folder = overrides_file.parent.parent
            metrics_file = folder / METRICS
            if (folder / ERROR).exists():  # failed; with a metrics.json, another job's (a shared folder)
                warn(f"warning: skipping failed job {folder} (its {ERROR})")
                continue
            if not metrics_file.exists():
                warn(f"warning: skipping unfinished job {folder} (no metrics.json)")
                continue
            overrides = yaml.safe_load(overrides_file.read_text()) or []
            seed = next(
                (o.lstrip("+").partition("=")[2] for o in overrides if o.lstrip("+").startswith("seed=")),
                None,
            )
            if seed is None:  # the seed came from a config file, not the command line
                seed = OmegaConf.load(folder / ".hydra" / "config.yaml").get("seed")
            written = json.loads(metrics_file.read_text())
            if (written.get("run") or {}).get("limited"):
                warn(f"warning: skipping limited job {folder} (debug / limit_*_batches: part of the data)")
                continue
            metrics = {
                k: float(v)
                for k, v in written.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            kept = tuple(o for o in overrides if not _is_ignored(o))
            jobs.append(Job(folder, kept, int(seed) if seed is not None else None, metrics))
    return jobs


def configuration_names(jobs: list[Job]) -> dict[Job, str]:
    """Each job's configuration: its overrides minus the seed and minus those every job shares."""
    shared = set.intersection(*(set(j.overrides) for j in jobs)) if jobs else set()
    return {j: " ".join(o for o in j.overrides if o not in shared) or "(shared overrides only)" for j in jobs}


def by_configuration(jobs: list[Job]) -> dict[str, list[Job]]:
    """The jobs of each configuration (see configuration_names), in the jobs' order."""
    groups: dict[str, list[Job]] = {}
    for job, name in configuration_names(jobs).items():
        groups.setdefault(name, []).append(job)
    return groups


def shared_overrides(jobs: list[Job]) -> list[str]:
    """The overrides every job has (printed once above a table instead of in every row)."""
    if not jobs:
        return []
    shared = set.intersection(*(set(j.overrides) for j in jobs))
    return [o for o in jobs[0].overrides if o in shared]
