"""Badges: the shields.io endpoint JSON against the endpoint schema; the SVG is well-formed."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.records import ProblemPayload
from pytest_codex.reports.badges import _xml_safe, badge_documents, color_for, endpoint, svg, write_badges
from pytest_codex.reports.results import build_model_result

from reports_support import assert_shields_endpoint


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.none(), st.floats(0, 1)), st.text(min_size=0, max_size=30))
def test_endpoint_documents_follow_the_shields_schema(value, label):
    doc = endpoint(label, value)
    assert_shields_endpoint(doc)
    json.loads(json.dumps(doc))
    root = ElementTree.fromstring(svg(doc))  # well-formed whatever the label holds
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert doc["message"] in texts and _xml_safe(label) in texts


@pytest.mark.parametrize(
    "value,color",
    [
        (None, "lightgrey"),
        (0.0, "red"),
        (0.099, "red"),
        (0.1, "orange"),
        (0.25, "yellow"),
        (0.4, "yellowgreen"),
        (0.6, "green"),
        (0.8, "brightgreen"),
        (1.0, "brightgreen"),
    ],
)
def test_color_thresholds(value, color):
    assert color_for(value) == color


def test_badges_for_each_model_are_written(tmp_path):
    payload = ProblemPayload("", "HumanEval/0", n=4, c=1)
    results = [
        build_model_result("hf:SmolLM2-135M", "hf:HuggingFaceTB/SmolLM2-135M", [payload], 1, (1,)),
        build_model_result("reference", "reference", [ProblemPayload("", "HumanEval/0", n=1, c=1)], 164, (1,)),
    ]
    paths = write_badges(str(tmp_path / "badges"), badge_documents(results, "humaneval"))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "hf-SmolLM2-135M.json",
        "hf-SmolLM2-135M.svg",
        "reference.json",
        "reference.svg",
    ]
    doc = json.loads((tmp_path / "badges" / "hf-SmolLM2-135M.json").read_text())
    assert doc == {
        "schemaVersion": 1,
        "label": "HumanEval pass@1 hf:SmolLM2-135M",
        "message": "25.0%",
        "color": "yellow",
    }
    # the reference scored 1 of 164 problems: its badge says partial, in grey
    partial = json.loads((tmp_path / "badges" / "reference.json").read_text())
    assert partial["message"] == "100.0% (partial)" and partial["color"] == "lightgrey"
    root = ElementTree.parse(tmp_path / "badges" / "reference.svg").getroot()
    assert "HumanEval pass@1 reference: 100.0% (partial)" in root.get("aria-label")
