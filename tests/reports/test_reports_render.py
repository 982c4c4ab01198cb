"""Golden renderings of the tables (terminal at fixed widths, markdown), shared by the
terminal summary and the command line."""

from __future__ import annotations

from pytest_codex.core.records import ProblemPayload
from pytest_codex.reports.compare import within_run
from pytest_codex.reports.results import build_model_result
from pytest_codex.reports.tables import markdown_document, render_comparison, render_markdown, render_table


def _payloads(counts: list[int], n: int) -> list[ProblemPayload]:
    out = []
    for i, c in enumerate(counts):
        samples = [{"index": j, "verdict": "passed" if j < c else ("failed" if j % 2 else "error")} for j in range(n)]
        out.append(ProblemPayload.from_json({"task_id": f"toy/{i}", "n": n, "c": c, "samples": samples}))
    return out


A = build_model_result("model-a", "samples:a.jsonl", _payloads([10, 7, 0, 3, 10, 0, 1, 9], 10), 8, (1, 10))
B = build_model_result("model-b", "samples:b.jsonl", _payloads([10, 9, 2, 5, 10, 1, 4, 10], 10), 8, (1, 10))
GREEDY = build_model_result("greedy", "samples:g.jsonl", _payloads([1, 0, 1, 1], 1), 8, (1, 10))


def golden(text: str) -> list[str]:
    return text.strip("\n").split("\n")


def test_wide_terminal_one_table():
    assert render_table([A, B], (1, 10), width=200) == golden("""
model    problems   n  pass@1            95% CI  pass@10        95% CI  passed  failed  error  timeout  syntax_error  crashed
-------  --------  --  ------  ----------------  -------  ------------  ------  ------  -----  -------  ------------  -------
model-a         8  10     0.5  [0.2125, 0.7875]     0.75  [0.375, 1.0]      40      22     18        0             0        0
model-b         8  10  0.6375   [0.3875, 0.875]      1.0    [1.0, 1.0]      51      16     13        0             0        0
""")


def test_80_columns_split_the_verdicts_and_the_coverage_into_tables_of_their_own():
    lines = render_table([A, B, GREEDY], (1, 10), width=80)
    assert lines == golden("""
model    problems   n  pass@1            95% CI  pass@10        95% CI
-------  --------  --  ------  ----------------  -------  ------------
model-a         8  10     0.5  [0.2125, 0.7875]     0.75  [0.375, 1.0]
model-b         8  10  0.6375   [0.3875, 0.875]      1.0    [1.0, 1.0]
greedy          4   1    0.75       [0.25, 1.0]    — [1]             —

model    coverage
-------  ------------------------
model-a  complete
model-b  complete
greedy   partial: 4 of 8 problems

verdicts  passed  failed  error  timeout  syntax_error  crashed
--------  ------  ------  -----  -------  ------------  -------
model-a       40      22     18        0             0        0
model-b       51      16     13        0             0        0
greedy         3       0      1        0             0        0
[1] greedy pass@10: needs at least 10 samples per problem; 4 problem(s) have fewer (e.g. toy/0 has 1)
""")
    assert all(len(line) <= 80 for line in lines[:-1])


def test_markdown_table():
    assert render_markdown([A, B, GREEDY], (1, 10)) == golden("""
| model | problems | n | pass@1 | 95% CI | pass@10 | 95% CI | coverage | passed | failed | error | timeout | syntax_error | crashed |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| model-a | 8 | 10 | 0.5 | [0.2125, 0.7875] | 0.75 | [0.375, 1.0] | complete | 40 | 22 | 18 | 0 | 0 | 0 |
| model-b | 8 | 10 | 0.6375 | [0.3875, 0.875] | 1.0 | [1.0, 1.0] | complete | 51 | 16 | 13 | 0 | 0 | 0 |
| greedy | 4 | 1 | 0.75 | [0.25, 1.0] | — [1] | — | partial: 4 of 8 problems | 3 | 0 | 1 | 0 | 0 | 0 |

[1] greedy pass@10: needs at least 10 samples per problem; 4 problem(s) have fewer (e.g. toy/0 has 1)
""")


def test_paired_comparison_table():
    assert render_comparison(within_run([A, B], (1, 10))) == golden("""
model    baseline  problems  metric    value  base     diff           95% CI        p  verdict
-------  --------  --------  -------  ------  ----  -------  ---------------  -------  -------------------
model-b  model-a          8  pass@1   0.6375   0.5  +0.1375  [+0.0625, +0.2]  0.03125  better
model-b  model-a          8  pass@10     1.0  0.75    +0.25    [0.0, +0.625]      0.5  no clear difference
value, base: pass@k of the model and of the baseline over their common problems; diff = value - base
95% CI: paired bootstrap; p: paired permutation test; better/worse: CI excludes 0 and p < 0.05
""")


def test_comparison_over_fewer_problems_says_so():
    fewer = build_model_result("model-c", "samples:c.jsonl", _payloads([10, 9, 2], 10), 8, (1,))
    lines = render_comparison(within_run([A, fewer], (1,)))
    assert "model-c vs model-a: compared over the 3 problems both attempted (3 vs 8)" in lines
    assert lines[2].split()[:3] == ["model-c", "model-a", "3"]


def test_the_codex_papers_figures_beside_a_runs_pass_at_1():
    doc = markdown_document("t", [A, GREEDY], (1,), "scope", paper_figures=True)
    section = doc.split("### Beside the Codex paper's figures\n\n")[1].splitlines()
    assert section[:8] == golden("""
| model | pass@1 | pass@100 | source |
|---|---:|---:|---|
| greedy | 0.75 | — | this run (n = 1, over 4 of 8 problems) |
| model-a | 0.5 | — | this run (n = 10) |
| Codex-12B | 0.288 | 0.702 | the Codex paper |
| GPT-J | 0.114 | — | the Codex paper |
| GPT-3 | 0.0 | — | the Codex paper |
""") + [""]
    assert "reported figures (Chen et al. (2021)" in section[8] and "not measured by this run" in section[8]
    assert "Beside the Codex paper" not in markdown_document("t", [A], (1,), "scope")  # only when asked (HumanEval)


def test_heatmap_shades_each_cell_and_greys_a_cell_without_a_value(tmp_path):
    from xml.etree import ElementTree

    from pytest_codex.reports.svg import HIGH, LOW, heatmap

    values = {(1, 2): 0.0, (2, 2): 1.0, (1, 3): 0.25, (2, 3): None}
    path = heatmap(str(tmp_path / "h" / "map.svg"), "t <&>", "operations", "variables", [1, 2], [2, 3], values)
    again = heatmap(str(tmp_path / "again.svg"), "t <&>", "operations", "variables", [1, 2], [2, 3], values)
    text = open(path).read()
    assert text == open(again).read()  # the same bytes for the same input
    root = ElementTree.fromstring(text)  # well-formed, the title escaped
    rects = [e for e in root.iter() if e.tag.endswith("rect")]
    cells = [r for r in rects if r.get("stroke") == "white"]
    fills = [r.get("fill") for r in cells]
    white, blue = "#" + bytes(LOW).hex(), "#" + bytes(HIGH).hex()
    assert fills[0] == white and fills[1] == blue and fills[3] == "#dddddd"  # rows 2 then 3, columns 1, 2
    assert fills[2] not in (white, blue)
    labels = [e.text for e in root.iter() if e.tag.endswith("text")]
    assert [x for x in labels if x in ("0.00", "1.00", "0.25", "—")] == ["0.00", "1.00", "0.25", "—"]
    assert "t <&>" in labels
