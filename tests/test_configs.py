"""Every YAML in configs/ runs `fit` with fast_dev_run through the real `lit-vision` command.

The list grows by itself: a new config is picked up here. Configs on real data sets run on small files in the real
formats that `dataset_fixtures` writes; fragments (trainer/, logger/) are stacked onto the ConvMixer config.
"""

from pathlib import Path

import pytest

from helpers import CONFIGS

FRAGMENT_DIRS = {"trainer", "logger"}
BASE_FOR_FRAGMENTS = CONFIGS / "convmixer.yaml"


def all_configs() -> list[Path]:
    return sorted(CONFIGS.rglob("*.yaml"))


def config_id(path: Path) -> str:
    return str(path.relative_to(CONFIGS))


def dataset_args(group: str, tmp_path: Path, name: str = "") -> list[str]:
    """Arguments that point a real-data config at small generated files in that data set's format (a fixture of
    `group/name` first, e.g. imagenet/swin_t_streaming, else of the group)."""
    import dataset_fixtures

    make = dataset_fixtures.FIXTURES.get(f"{group}/{name}") or dataset_fixtures.FIXTURES.get(group)
    if make is None:
        pytest.fail(f"configs/{group}/ has no data fixture: add one to tests/dataset_fixtures.py")
    return make(tmp_path)


@pytest.mark.parametrize("config", all_configs(), ids=config_id)
def test_config_runs_fast_dev_run(config: Path, lit_vision, tmp_path):
    group = config.parent.name if config.parent != CONFIGS else None
    if group in FRAGMENT_DIRS:
        args = ["fit", "--config", str(BASE_FOR_FRAGMENTS), "--config", str(config)]
    else:
        args = ["fit", "--config", str(config)]
        if group is not None:
            args += dataset_args(group, tmp_path, config.stem)
    result = lit_vision(*args, "--trainer.fast_dev_run", "true")
    assert result.returncode == 0, f"{config_id(config)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
