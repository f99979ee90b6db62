"""Read the test and coverage files a buildspec's `reports` names: JUnit XML and Cucumber JSON test results,
Cobertura and JaCoCo XML coverage. Each reader answers plain dicts in the API's TestCase and CodeCoverage
shapes (without the report's ARN) or raises ReportFileError saying what is wrong with the file.

XML is read with care: a DOCTYPE (entities, an XML bomb) is refused before parsing."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

MAX_FILE_BYTES = 10 << 20
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class ReportFileError(ValueError):
    """A report file that cannot be read; str() says which file and why."""


def _read(path: Path) -> bytes:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ReportFileError(f"{path.name} is larger than {MAX_FILE_BYTES >> 20} MB")
    return path.read_bytes()


def _xml(path: Path) -> ET.Element:
    data = _read(path)
    if _DOCTYPE.search(data):
        raise ReportFileError(f"{path.name}: a DOCTYPE or entity declaration is not allowed in a report file")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ReportFileError(f"{path.name} is not well-formed XML: {exc}") from exc


def _number(text: str | None, path: Path, what: str) -> float:
    try:
        return float(text or 0)
    except ValueError as exc:
        raise ReportFileError(f"{path.name}: {what} {text!r} is not a number") from exc


# -- tests ---------------------------------------------------------------------------------------------


def junit(path: Path) -> list[dict]:
    """<testsuites>/<testsuite>/<testcase>; failure, error and skipped children give the status."""
    root = _xml(path)
    if root.tag not in ("testsuites", "testsuite"):
        raise ReportFileError(
            f"{path.name}: the root element is <{root.tag}>, not <testsuites> or <testsuite>"
        )
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases = []
    for suite in suites:
        for case in suite.findall("testcase"):
            status, message = "SUCCEEDED", ""
            for tag, outcome in (("failure", "FAILED"), ("error", "ERROR"), ("skipped", "SKIPPED")):
                found = case.find(tag)
                if found is not None:
                    status = outcome
                    message = found.get("message") or (found.text or "").strip()
                    break
            seconds = _number(case.get("time"), path, "time")
            cases.append(
                {
                    "testRawDataPath": str(path),
                    "prefix": case.get("classname") or "",
                    "name": case.get("name") or "",
                    "status": status,
                    "durationInNanoSeconds": int(seconds * 1e9),
                    "message": message,
                    "testSuiteName": suite.get("name") or "",
                }
            )
    return cases


_CUCUMBER_STATUS = {"passed": "SUCCEEDED", "failed": "FAILED", "skipped": "SKIPPED", "pending": "SKIPPED"}


def cucumber(path: Path) -> list[dict]:
    """Cucumber JSON: features hold scenarios (elements) of steps; the worst step gives the status."""
    try:
        features = json.loads(_read(path))
        cases = []
        for feature in features:
            for scenario in feature.get("elements") or []:
                steps = [step.get("result") or {} for step in scenario.get("steps") or []]
                statuses = [_CUCUMBER_STATUS.get(result.get("status"), "UNKNOWN") for result in steps]
                status = next((s for s in ("FAILED", "UNKNOWN", "SKIPPED") if s in statuses), "SUCCEEDED")
                cases.append(
                    {
                        "testRawDataPath": str(path),
                        "prefix": feature.get("name") or "",
                        "name": scenario.get("name") or "",
                        "status": status,
                        "durationInNanoSeconds": sum(int(result.get("duration") or 0) for result in steps),
                        "message": next((r["error_message"] for r in steps if r.get("error_message")), ""),
                        "testSuiteName": feature.get("name") or "",
                    }
                )
    except (ValueError, TypeError, AttributeError) as exc:
        raise ReportFileError(f"{path.name} is not Cucumber JSON (a list of features): {exc}") from exc
    return cases


# -- coverage ----------------------------------------------------------------------------------------


def _coverage(path: str, lines: tuple[int, int], branches: tuple[int, int]) -> dict:
    """A CodeCoverage entry from (covered, missed) line and branch counts."""
    entry = {"filePath": path}
    for kind, (covered, missed) in (("line", lines), ("branch", branches)):
        total = covered + missed
        entry[f"{kind}CoveragePercentage"] = round(100.0 * covered / total, 2) if total else 0.0
        entry[f"{kind}{'es' if kind == 'branch' else 's'}Covered"] = covered
        entry[f"{kind}{'es' if kind == 'branch' else 's'}Missed"] = missed
    return entry


_CONDITION = re.compile(r"\((\d+)/(\d+)\)")


def cobertura(path: Path) -> list[dict]:
    """<coverage>/…/<class filename>/<lines>/<line hits branch condition-coverage>."""
    root = _xml(path)
    if root.tag != "coverage":
        raise ReportFileError(f"{path.name}: the root element is <{root.tag}>, not Cobertura's <coverage>")
    files: dict[str, list[int]] = {}
    for cls in root.iter("class"):
        counts = files.setdefault(cls.get("filename") or cls.get("name") or "", [0, 0, 0, 0])
        for line in cls.iter("line"):
            hits = _number(line.get("hits"), path, "hits")
            counts[0 if hits > 0 else 1] += 1
            condition = _CONDITION.search(line.get("condition-coverage") or "")
            if line.get("branch") == "true" and condition:
                covered, total = int(condition[1]), int(condition[2])
                counts[2] += covered
                counts[3] += total - covered
    return [_coverage(name, (c[0], c[1]), (c[2], c[3])) for name, c in sorted(files.items())]


def jacoco(path: Path) -> list[dict]:
    """<report>/<package name>/<sourcefile name>/<counter type=LINE|BRANCH missed covered>."""
    root = _xml(path)
    if root.tag != "report":
        raise ReportFileError(f"{path.name}: the root element is <{root.tag}>, not JaCoCo's <report>")
    found = []
    for package in root.iter("package"):
        for source in package.findall("sourcefile"):
            counters = {
                counter.get("type"): (
                    int(_number(counter.get("covered"), path, "covered")),
                    int(_number(counter.get("missed"), path, "missed")),
                )
                for counter in source.findall("counter")
            }
            name = f"{package.get('name')}/{source.get('name')}".lstrip("/")
            found.append(_coverage(name, counters.get("LINE", (0, 0)), counters.get("BRANCH", (0, 0))))
    return found


READERS = {"JUNITXML": junit, "CUCUMBERJSON": cucumber, "COBERTURAXML": cobertura, "JACOCOXML": jacoco}
