"""rtsep.training.checkpoints: the run state round-trips; listing skips incomplete folders.

(Saving and restoring a real model and optimizer is tested by the resume test in
test_training_loop.py.)"""

import json

from rtsep.training.checkpoints import RunState, list_checkpoints


def test_run_state_round_trips_through_json():
    run = RunState(step=7, best_sdr={"vocals": 1.5, "mean": float("nan")}, best_step=5,
                   last_sdr={"vocals": 1.0}, last_val_step=7, history=[{"step": 5, "sdr": {}}])
    state = json.loads(json.dumps(run.to_json(seed=3, batch_size=4)))
    assert state["data_stream"] == {"seed": 3, "next_example": 28}
    back = RunState.from_json(state)
    assert (back.step, back.best_step, back.last_val_step, back.history) == (7, 5, 7, run.history)


def test_list_checkpoints_ignores_temporary_and_incomplete_folders(tmp_path):
    root = tmp_path / "checkpoints"
    for name in ("step-00000002", "step-00000010", ".step-00000012.tmp-1-x", "step-00000011"):
        (root / name).mkdir(parents=True)
    for name in ("step-00000002", "step-00000010", ".step-00000012.tmp-1-x"):
        (root / name / "state.json").write_text("{}")
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 10]
