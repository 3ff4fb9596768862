"""rtsep.training.config: TrainConfig validates once, round-trips through JSON."""

import json

import pytest

from rtsep.errors import ConfigError
from rtsep.training.config import TrainConfig, check_resume_compatible
from rtsep.training.data import AugmentConfig


def test_train_config_round_trip_and_errors(tmp_path):
    cfg = TrainConfig(data="d", out="o", arch="hybrid", size="tiny", augment=AugmentConfig(remix_prob=0.2))
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({**cfg.to_dict(), "epochs": 3})
    with pytest.raises(ConfigError, match="missing key"):
        TrainConfig.from_dict({"data": "d"})
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(data="d", out="o", batch_size=0)
    with pytest.raises(ConfigError, match="strategy"):
        TrainConfig(data="d", out="o", strategy="tpu")
    with pytest.raises(ConfigError, match="loss"):
        TrainConfig(data="d", out="o", loss="l2")
    with pytest.raises(ConfigError, match="arch"):
        TrainConfig(data="d", out="o", arch="d3net")
    assert TrainConfig(data="d", out="o", model_config=None).model_config_obj().arch == "unet"


def test_resume_may_change_only_some_settings():
    saved = TrainConfig(data="d", out="o", steps=10)
    check_resume_compatible(saved, TrainConfig(data="d", out="o", steps=20, workers=4))
    with pytest.raises(ConfigError, match="lr: 0.001 -> 0.002"):
        check_resume_compatible(saved, TrainConfig(data="d", out="o", lr=2e-3))


def test_train_command_line_sets_source_dropout():
    """`rtsep train` leaves stems out by default (--silence-prob 0.1); --no-augment and an
    explicit probability contradict each other."""
    from rtsep.cli.cmd_train import DEFAULT_SILENCE_PROB, build_config
    from rtsep.cli.main import build_parser

    def config(*extra):
        return build_config(build_parser().parse_args(["train", "--data", "d", "--out", "o",
                                                       "--arch", "unet", *extra]))

    assert config().augment.silence_prob == DEFAULT_SILENCE_PROB > 0
    assert config("--silence-prob", "0").augment == AugmentConfig()
    assert config("--silence-prob", "0.3", "--remix-prob", "0.2").augment == \
        AugmentConfig(silence_prob=0.3, remix_prob=0.2)
    assert config("--no-augment").augment == AugmentConfig.none()
    assert config("--instrumental-prob", "0.4").augment == \
        AugmentConfig(silence_prob=DEFAULT_SILENCE_PROB, instrumental_prob=0.4)
    with pytest.raises(ConfigError, match="--instrumental-prob and --no-augment"):
        config("--no-augment", "--instrumental-prob", "0.4")
    with pytest.raises(ConfigError, match="--silence-prob and --no-augment"):
        config("--no-augment", "--silence-prob", "0.2")
