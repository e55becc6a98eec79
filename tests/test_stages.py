"""A pipeline's stage record: reuse what is unchanged, resume what was begun, redo what changed."""
from worldmodel.train.stages import StageRecord


def test_a_stage_is_reused_resumed_or_redone_by_its_recorded_spec(tmp_path):
    record, out = StageRecord(tmp_path), tmp_path / "train"
    spec = {"steps": 10, "overrides": ("model.pool=0",)}
    assert record.prepare("train", out, spec, finished=False)       # first run: record, then run
    assert record.recorded("train") == {"steps": 10, "overrides": ["model.pool=0"]}
    out.mkdir()
    (out / "checkpoint.pt").write_text("step 5")
    assert record.prepare("train", out, spec, finished=False)       # interrupted: resume ...
    assert (out / "checkpoint.pt").is_file()                        # ... from what it left
    assert not record.prepare("train", out, spec, finished=True)    # finished: reuse
    assert record.is_current("train", out, spec)
    assert record.prepare("train", out, {**spec, "steps": 20}, finished=True)   # changed: redo
    assert not out.exists() and record.recorded("train")["steps"] == 20
    out.mkdir()
    assert record.prepare("train", out, {**spec, "steps": 20}, finished=True, stale=True)
    assert not out.exists()                                         # an input was redone
