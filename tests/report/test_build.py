"""``build_report``: the files it writes, the self-contained HTML page (parsed), determinism and bad input."""

from __future__ import annotations

import base64
import io
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread

from noisetrain.registry import ConfigError
from noisetrain.report import Report, build_report, headline, load

PNG = b"\x89PNG\r\n\x1a\n"
DATA_URI = "data:image/png;base64,"


class Page(HTMLParser):
    """Every start tag with its attributes, the ids, and the page's text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def ids(self) -> set[str | None]:
        return {attrs["id"] for _, attrs in self.tags if "id" in attrs}


FIGURES = ["headline_vs_strength", "cost_vs_benefit", "training_curves", "clean", "noise_sweep", "corruption_heatmap",
           "calibration", "reliability_diagrams", "adversarial"]  # fmt: skip
TABLES = ["headline", "statistics", "clean", "noise_sweep", "corruptions", "calibration", "adversarial",
          "selection", "status", "problems"]  # fmt: skip


@pytest.fixture(scope="module")
def built(full_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    return build_report(full_study, tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(built: Report) -> tuple[Path, list[Path]]:
    return built.folder, built.files


def test_writes_every_table_figure_the_summary_and_the_page(report: tuple[Path, list[Path]], full_study: Path) -> None:
    output, paths = report
    expected = [output / f"{t}{s}" for t in TABLES for s in (".md", ".tex", ".csv")] + [output / "records.csv"]
    expected += [output / f"{name}.png" for name in FIGURES] + [output / "summary.md", output / "report.html"]
    assert paths == expected
    assert sorted(output.iterdir()) == sorted(expected)
    data = load(full_study)
    written = pd.read_csv(output / "headline.csv")
    pd.testing.assert_series_equal(written["mean"], headline(data)["mean"])
    assert written.columns[0] == "label" and "train.optimizer.lr" in written.columns
    summary = (output / "summary.md").read_text()
    assert summary.startswith(
        "# Study synthetic: summary\n\n- With lr=0.001: Best by validation: **gaussian std=0.1** (validation accuracy "
    )


def test_the_report_object_names_its_page_findings_and_headline(built: Report, study_factory) -> None:
    assert built.page == built.folder / "report.html" and built.page in built.files
    assert built.findings[0].kind == "best" and built.headline.name == "headline"
    assert built.headline.shown is not None and built.headline.shown.iloc[0, 0] == "baseline"
    assert build_report(study_factory(("clean",), seeds=(0, 1, 2)), formats=("csv",)).page is None


def test_html_parses_and_every_figure_is_embedded_and_exists(report: tuple[Path, list[Path]]) -> None:
    output, _ = report
    page = Page((output / "report.html").read_text(encoding="utf-8"))
    images = page.all("img")
    in_page = [*FIGURES[:2], *FIGURES[3:], FIGURES[2]]  # headline, each measure's section, then training
    assert [image["data-file"] for image in images] == [f"{name}.png" for name in in_page]
    for image in images:
        assert image["src"].startswith(DATA_URI)
        png = base64.b64decode(image["src"].removeprefix(DATA_URI), validate=True)
        assert png.startswith(PNG) and imread(io.BytesIO(png)).ndim == 3
        assert image["alt"]
        assert (output / image["data-file"]).read_bytes() == png  # the figure it names lies next to the page
    assert {image["data-file"] for image in images} == {p.name for p in output.glob("*.png")}
    text = "".join(page.text)
    assert "Study synthetic" in text and "gaussian std=0.1" in text and "Best by validation: gaussian std=0.1" in text
    assert "RuntimeError: boom" in text  # the failed run's message
    assert "optimizer:" in text  # the study config


def test_html_is_self_contained(report: tuple[Path, list[Path]]) -> None:
    output, _ = report
    page = Page((output / "report.html").read_text(encoding="utf-8"))
    assert not page.all("script") and not page.all("link") and not page.all("iframe")
    assert len(page.all("table")) == len(TABLES)  # records is CSV only
    assert len(page.all("strong")) > 3  # configurations in bold in the summary
    assert page.all("meta")[-1] == {"name": "viewport", "content": "width=device-width, initial-scale=1"}
    references = [a["href"] for a in page.all("a")] + [i["src"] for i in page.all("img")]
    for reference in references:
        assert reference.startswith(("#", DATA_URI)), reference
    assert {a["href"][1:] for a in page.all("a")} <= page.ids
    assert "url(" not in (output / "report.html").read_text()


@pytest.mark.slow  # a second build of every figure
def test_report_is_deterministic(full_study: Path, report: tuple[Path, list[Path]], tmp_path: Path) -> None:
    _, paths = report
    again = build_report(full_study, tmp_path).files
    assert [p.name for p in again] == [p.name for p in paths]
    for first, second in zip(paths, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_figures_and_tables_without_records_are_left_out_and_old_ones_removed(
    study_factory, report: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    old, _ = report
    output = tmp_path / "report"
    shutil.copytree(old, output)
    (output / "notes.txt").write_text("mine")
    (output / "robustness_curves.png").write_bytes(b"from an earlier version")
    paths = build_report(study_factory(("clean",)), output).files
    names = {p.name for p in paths}
    assert {"corruption_heatmap.png", "corruptions.md", "noise_sweep.csv", "robustness_curves.png"}.isdisjoint(names)
    assert sorted(p.name for p in output.iterdir()) == sorted([*names, "notes.txt"])  # old files gone, others kept
    images = Page((output / "report.html").read_text()).all("img")
    assert sorted(i["data-file"] for i in images) == sorted(n for n in names if n.endswith(".png"))


def test_formats_and_default_folder(study_factory) -> None:
    folder = study_factory(("clean",))
    paths = build_report(folder, formats=("csv",)).files
    assert all(p.parent == folder / "report" for p in paths)
    assert {p.suffix for p in paths} == {".csv", ".png"}


def test_bad_input_is_refused(study_factory, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no study store"):
        build_report(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(ConfigError, match="formats must be one or more of md, latex, csv, html; got 'pdf'"):
        build_report(study_factory(("clean",)), formats=("md", "pdf"))


def test_every_other_measure_gets_its_table_and_figure(study_factory, tmp_path: Path) -> None:
    measures = ("clean", "uncertainty", "flatness", "certified", "cost")
    written = build_report(study_factory(measures, seeds=(0, 1, 2)), tmp_path)
    names = {p.name for p in written.files}
    for measure in measures:
        assert {f"{measure}.md", f"{measure}.tex", f"{measure}.csv", f"{measure}.png"} <= names, measure
    certified = (tmp_path / "certified.md").read_text()
    assert "certified r=0.25" in certified and "mean radius" in certified and "%" in certified
    assert "AUROC entropy, misclassified" in (tmp_path / "uncertainty.md").read_text()
    assert "85,002" in (tmp_path / "cost.md").read_text()
    page = Page((tmp_path / "report.html").read_text())
    assert {f"{m}.png" for m in measures} <= {image["data-file"] for image in page.all("img")}
    assert {"uncertainty", "flatness", "certified", "cost"} <= page.ids


def test_a_table_too_wide_for_the_page_stacks_each_interval_under_its_value() -> None:
    """The calibration table (9 columns of values with intervals) scrolled sideways inside its box at 1400 px."""
    import pandas as pd

    from noisetrain.report.formats import Table
    from noisetrain.report.html import _table

    def table(columns: int) -> str:
        shown = pd.DataFrame({"configuration": ["baseline"], **{f"m{i}": ["0.0443 [0.0422, 0.0464]"] for i in
                                                                 range(columns)}})  # fmt: skip
        return _table(Table("t", "t", shown, shown, "l" + "r" * columns))

    narrow, wide = table(3), table(8)
    cell = '<td class="r pair"><span>0.0443</span> <span>[0.0422, 0.0464]</span></td>'
    assert cell in narrow and cell in wide  # the browser may break a cell between its value and its interval
    assert "<table>" in narrow and '<table class="stacked">' in wide  # a wide table breaks every one of them
    assert '<td class="l">baseline</td>' in wide  # a cell without an interval stays as it is
