import runpy
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "quickstart.py"


def test_quickstart_runs_and_input_noise_helps_under_noise(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["quickstart.py", "--epochs", "15"])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()[1:]
    rows = {line[:30].strip(): [float(v) for v in line[30:].split()] for line in lines}
    assert set(rows) == {
        "clean",
        "gaussian input 0.3",
        "dropout 0.3 + weight noise",
        "mixup + label smoothing",
        "annealed input noise",
    }
    assert all(clean_acc > 0.9 for clean_acc, _, _ in rows.values())
    # training with input noise makes the model more robust to test-time noise of that size
    assert rows["gaussian input 0.3"][1] > rows["clean"][1] + 0.03
