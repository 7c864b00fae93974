"""JUnit XML for judged runs, as CI systems read it.

The dialect is Jenkins' (the xunit plugin's junit-10.xsd, which GitHub's, GitLab's and most
other CI test reporters also read; tests/data/junit.xsd holds it and the tests validate
against it): `<testsuites>` holding one `<testsuite>` with `<properties>` and a `<testcase>` per
run, its classname `SUITE.SCENARIO` (CI systems group by what comes before the last dot) and
its name `WORKLOAD TARGET seed=N`. A run that did not go as expected is a `<failure>` whose
message names the checkers that failed, the anomaly (each one's headline), the run directory
and the reproduce command; a harness problem (and an unknown verdict: nothing was judged) is
an `<error>`; a run not started is `<skipped>`. Times have millisecond precision, as the
schema's SUREFIRE_TIME pattern asks.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from chaos.runner import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_UNKNOWN, EXIT_USAGE, RunOutcome

_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_xml(suite_name: str, outcomes: Sequence[RunOutcome], *, timestamp: datetime,
              hostname: str, properties: Mapping[str, str] | None = None) -> str:
    """JUnit XML (Jenkins' junit-10.xsd) for `outcomes`: a testcase per run."""
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("failed", "error", "skipped")}
    total_s = f"{sum(o.duration_s for o in outcomes):.3f}"
    root = ET.Element("testsuites", name=_xml(f"chaos suite {suite_name}"),
                      tests=str(len(outcomes)), failures=str(counts["failed"]),
                      errors=str(counts["error"]), time=total_s)
    suite = ET.SubElement(
        root, "testsuite", name=_xml(suite_name), tests=str(len(outcomes)),
        failures=str(counts["failed"]), errors=str(counts["error"]),
        skipped=str(counts["skipped"]), time=total_s,
        timestamp=timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=_xml(hostname) or "localhost")
    if properties:
        props = ET.SubElement(suite, "properties")
        for name, value in properties.items():
            ET.SubElement(props, "property", name=_xml(name), value=_xml(value))
    for o in outcomes:
        case = ET.SubElement(suite, "testcase",
                             classname=_xml(f"{suite_name}.{o.spec.scenario_name}"),
                             name=_xml(o.spec.case_name), time=f"{o.duration_s:.3f}")
        if o.status == "skipped":
            ET.SubElement(case, "skipped", message=_xml(o.reason))
            continue
        if o.status == "passed":
            if o.reason:  # a planted bug caught: say by what, and where to see it
                ET.SubElement(case, "system-out").text = _xml(o.describe())
            continue
        kind = "failure" if o.status == "failed" else "error"
        where = f"; run directory {o.run_dir}" if o.run_dir else ""
        node = ET.SubElement(case, kind, type=_xml(_junit_type(o)),
                             message=_xml(f"{o.reason}{where}; reproduce with: {o.reproduce}"))
        node.text = _xml(o.describe())
        if o.log_tail:
            ET.SubElement(case, "system-err").text = _xml(o.log_tail)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_type(o: RunOutcome) -> str:
    if o.status == "failed":
        return "invalid" if o.counted_exit_code == EXIT_INVALID else "not-caught"
    return {EXIT_UNKNOWN: "unknown", EXIT_USAGE: "usage", EXIT_INTERRUPTED: "interrupted"}.get(
        o.counted_exit_code, "harness")


def _xml(text: str) -> str:
    """XML 1.0 cannot carry most control characters: show them instead of breaking the file."""
    return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)

