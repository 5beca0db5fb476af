"""Check outcomes as text, JSON, JUnit XML, and GitHub Actions annotations.

JUnit because GitLab, Jenkins and GitHub test reporters all read it: one test case per
assertion, a failed error-severity assertion is a <failure>, a failed warning passes with the
message in <system-out>, a skipped or disabled one is <skipped>.  GitHub annotations
(`::error file=…,line=…::…`) put the message on the renacer.toml line in the pull request.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from renacer_tui.check.evaluate import FAIL, PASS, SKIP, Outcome
from renacer_tui.model import safe_json

FORMATS = ("text", "json", "junit")
_LABEL = {PASS: "PASS", SKIP: "SKIP"}


def _label(o: Outcome) -> str:
    if o.failed:
        return "FAIL" if o.severity == "error" else "WARN"
    return _LABEL[o.status]


def headline(o: Outcome) -> str:
    """`Critical path under 200ms - Actual: 347ms (73% over limit)`: the spec's failure line."""
    return f"{o.name} - {o.message}"


def summary(outcomes: list[Outcome]) -> str:
    failed = sum(o.failed and o.severity == "error" for o in outcomes)
    warned = sum(o.failed and o.severity == "warning" for o in outcomes)
    passed = sum(o.status == PASS for o in outcomes)
    skipped = sum(o.status == SKIP for o in outcomes)
    return f"{passed} passed, {failed} failed, {warned} warnings, {skipped} skipped"


def to_text(outcomes: list[Outcome], trace_id: str) -> str:
    lines = [f"renacer-tui check: trace {trace_id}"]
    for o in outcomes:
        lines.append(f"{_label(o):<4}  {headline(o)}")
        lines += [f"      {detail}" for detail in o.details]
    lines.append(summary(outcomes))
    return "\n".join(lines) + "\n"


def to_json(outcomes: list[Outcome], trace_id: str, exit_code: int) -> str:
    doc = {"trace_id": trace_id, "exit_code": exit_code, "summary": summary(outcomes), "assertions": [o.to_dict() for o in outcomes]}
    return safe_json.dumps(doc, indent=2) + "\n"


def to_junit(outcomes: list[Outcome], trace_id: str) -> str:
    failures = sum(o.failed and o.severity == "error" for o in outcomes)
    skipped = sum(o.status == SKIP for o in outcomes)
    suites = ET.Element("testsuites", name="renacer-tui check", tests=str(len(outcomes)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=f"renacer-tui check {trace_id}", tests=str(len(outcomes)),
                          failures=str(failures), errors="0", skipped=str(skipped))
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="trace_id", value=trace_id)
    for o in outcomes:
        attrs = {"name": o.name, "classname": Path(o.file).name if o.file else "renacer.baseline"}
        if o.file:
            attrs["file"] = str(o.file)
        if o.line:
            attrs["line"] = str(o.line)
        case = ET.SubElement(suite, "testcase", attrs)
        body = "\n".join([headline(o), *o.details, f"condition: {o.condition}"])
        if o.status == SKIP:
            ET.SubElement(case, "skipped", message=o.message)
        elif o.failed and o.severity == "error":
            failure = ET.SubElement(case, "failure", message=headline(o), type="trace-assertion" if o.status == FAIL else "undecided")
            failure.text = body
        elif o.failed:
            ET.SubElement(case, "system-out").text = "warning: " + body
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(outcomes: list[Outcome]) -> str:
    """`::error file=renacer.toml,line=3,title=…::…` for each failed check (`::warning` for warnings)."""
    lines = []
    for o in outcomes:
        if not o.failed:
            continue
        props = []
        if o.file:
            props += [f"file={_gh_property(str(o.file))}", f"line={o.line or 1}"]
        props.append(f"title={_gh_property(o.name)}")
        level = "error" if o.severity == "error" else "warning"
        lines.append(f"::{level} {','.join(props)}::{_gh_data(chr(10).join([headline(o), *o.details]))}")
    return "".join(line + "\n" for line in lines)
