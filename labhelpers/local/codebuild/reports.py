"""CodeBuild test and coverage reports: the report groups and reports a build's `reports` section makes,
kept on disk (`<state>/reports/`), and the API that reads them.

A build reports after its phases, even a failed one: each entry's files are read (report_files) into a
report `report/<group name>:<build uuid>` of the group `<project>-<entry name>` (made when missing) or of the
group the entry's ARN names. Any failed test fails the report; a file that cannot be read leaves it
INCOMPLETE, the reason in the build log (the API's Report has no message field).
"""

import copy
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ..awsjson import AwsError, now
from ..dispatch import JsonService, request_region
from ..paging import offset_page, with_token
from .buildspec import COVERAGE_FORMATS
from .projects import check_enum
from .report_files import READERS, ReportFileError
from .runner import ReportFiles
from .store import write_json

log = logging.getLogger("labhelpers.endpoint")
EXPIRY_SECONDS = 30 * 24 * 3600  # reports expire 30 days after they are created
MAX_PAGE = 100
MAX_BATCH = 100
TEST_STATUSES = ("SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "UNKNOWN")
GROUP_FILE = "report-groups.json"


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message)


def _not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message)


def reports_folder(layout) -> Path:
    return layout.state / "reports"


def report_type(file_format: str) -> str:
    return "CODE_COVERAGE" if file_format in COVERAGE_FORMATS else "TEST"


class ReportStore:
    """Report groups (one file) and reports (a file each, with their test cases or coverages); thread-safe."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        try:
            self.groups: dict[str, dict] = json.loads((self.folder / GROUP_FILE).read_text())
        except (OSError, ValueError):
            self.groups = {}
        self.reports: dict[str, dict] = {}  # arn -> {"report", "items", "seq"}
        for path in self.folder.glob("report-*.json"):
            try:
                entry = json.loads(path.read_text())
                self.reports[entry["report"]["arn"]] = entry
            except (OSError, ValueError, KeyError):
                log.exception("could not load the report in %s; it is left out", path)

    def save_groups(self) -> None:
        write_json(self.folder / GROUP_FILE, self.groups)

    def add_report(self, report: dict, items: list[dict]) -> None:
        with self.lock:
            seq = max((entry["seq"] for entry in self.reports.values()), default=0) + 1
            entry = {"report": report, "items": items, "seq": seq}
            self.reports[report["arn"]] = entry
            write_json(self._report_path(report["arn"]), entry)

    def delete_report(self, arn: str) -> None:
        with self.lock:
            self.reports.pop(arn, None)
            self._report_path(arn).unlink(missing_ok=True)

    def ordered_reports(self, newest_first: bool = True) -> list[dict]:
        with self.lock:
            entries = sorted(self.reports.values(), key=lambda entry: entry["seq"], reverse=newest_first)
            return copy.deepcopy(entries)

    def _report_path(self, arn: str) -> Path:
        return self.folder / f"report-{hashlib.sha256(arn.encode()).hexdigest()[:32]}.json"

    # -- reports of a build ------------------------------------------------------------------------

    def record_build(
        self, build: dict, region: str, found: list[ReportFiles], log: Callable[[str], None]
    ) -> list[str]:
        """Make the reports of one build from the files it found; answer their ARNs."""
        account = build["arn"].split(":")[4]
        arns = []
        for entry in found:
            kind = report_type(entry.file_format)
            with self.lock:
                group = self._group_for(entry.name, build["projectName"], kind, region, account, log)
            if group is None:
                continue
            items, problem = _read_files(entry)
            report = _report(group, build, kind, items, problem)
            self.add_report(report, items)
            log(f"Report {report['arn']}: {report['status']}" + (f" ({problem})" if problem else ""))
            arns.append(report["arn"])
        return arns

    def _group_for(self, name: str, project: str, kind: str, region: str, account: str, log) -> dict | None:
        if name.startswith("arn:"):
            group = self.groups.get(name)
            if group is None:
                log(f"Report group {name} does not exist: create it with CreateReportGroup first")
                return None
        else:
            group = self.groups.get(group_arn(region, account, f"{project}-{name}"))
            if group is None:
                group = self.create_group(
                    region, account, f"{project}-{name}", kind, {"exportConfigType": "NO_EXPORT"}
                )
        if group["type"] != kind:
            log(f"Report group {group['name']} is of type {group['type']}; {kind} reports cannot go into it")
            return None
        return group

    def create_group(self, region: str, account: str, name: str, kind: str, export: dict, tags=()) -> dict:
        with self.lock:
            moment = now()
            group = {
                "arn": group_arn(region, account, name),
                "name": name,
                "type": kind,
                "exportConfig": export,
                "created": moment,
                "lastModified": moment,
                "tags": list(tags),
                "status": "ACTIVE",
            }
            self.groups[group["arn"]] = group
            self.save_groups()
            return copy.deepcopy(group)


def group_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:codebuild:{region}:{account}:report-group/{name}"


def _read_files(entry: ReportFiles) -> tuple[list[dict], str]:
    """The test cases or coverages of an entry's files, and what kept them from being read, if anything."""
    if entry.problem:
        return [], entry.problem
    if not entry.files:
        return [], "no report files were found (check the files and base-directory of the reports entry)"
    reader = READERS.get(entry.file_format)
    if reader is None:
        return [], f"{entry.file_format} files are not read locally; use LAB_BACKEND=aws for this format"
    items = []
    try:
        for path in entry.files:
            items += reader(path)
    except (ReportFileError, OSError) as exc:
        return [], str(exc)
    return items, ""


def _report(group: dict, build: dict, kind: str, items: list[dict], problem: str) -> dict:
    created = now()
    arn = group["arn"].replace(":report-group/", ":report/") + ":" + build["id"].rpartition(":")[2]
    report = {
        "arn": arn,
        "type": kind,
        "name": group["name"],
        "reportGroupArn": group["arn"],
        "executionId": build["arn"],
        "created": created,
        "expired": created + EXPIRY_SECONDS,
        "exportConfig": group["exportConfig"],
        "truncated": False,
    }
    for item in items:
        item.update({"reportArn" if kind == "TEST" else "reportARN": arn, "expired": report["expired"]})
    if kind == "TEST":
        counts = {status: 0 for status in TEST_STATUSES}
        for case in items:
            counts[case["status"]] = counts.get(case["status"], 0) + 1
        report["testSummary"] = {
            "total": len(items),
            "statusCounts": counts,
            "durationInNanoSeconds": sum(case["durationInNanoSeconds"] for case in items),
        }
        failed = counts["FAILED"] + counts["ERROR"]
    else:
        for index, coverage in enumerate(items):
            coverage["id"] = f"{arn}:{index}"
        report["codeCoverageSummary"] = _coverage_summary(items)
        failed = 0
    report["status"] = "INCOMPLETE" if problem else ("FAILED" if failed else "SUCCEEDED")
    return report


def _coverage_summary(items: list[dict]) -> dict:
    summary = {}
    for kind, plural in (("line", "lines"), ("branch", "branches")):
        covered = sum(item[f"{plural}Covered"] for item in items)
        missed = sum(item[f"{plural}Missed"] for item in items)
        total = covered + missed
        summary[f"{kind}CoveragePercentage"] = round(100.0 * covered / total, 2) if total else 0.0
        summary[f"{plural}Covered"] = covered
        summary[f"{plural}Missed"] = missed
    return summary


# -- the API -------------------------------------------------------------------------------------------


class ReportsService(JsonService):
    """The report operations of CodeBuild's API (CodeBuildService has the builds')."""

    target_prefix = "CodeBuild_20161006"
    signing_name = "codebuild"
    moto_fallback = True

    def __init__(self, ctx, store: ReportStore):
        self.ctx = ctx
        self.store = store

    def create_report_group(self, params):
        name, kind = params.get("name") or "", params.get("type")
        if not 2 <= len(name) <= 128:
            raise _invalid("name must be 2 to 128 characters long.")
        if kind not in ("TEST", "CODE_COVERAGE"):
            raise _invalid("type must be TEST or CODE_COVERAGE.")
        export = _checked_export(params.get("exportConfig") or {})
        region = request_region()
        with self.store.lock:
            if group_arn(region, self.ctx.account, name) in self.store.groups:
                raise AwsError(
                    "ResourceAlreadyExistsException", f"Report group with name {name} already exists"
                )
            group = self.store.create_group(
                region, self.ctx.account, name, kind, export, params.get("tags") or []
            )
        return {"reportGroup": group}

    def batch_get_report_groups(self, params):
        arns = _batch(params, "reportGroupArns")
        with self.store.lock:
            found = [copy.deepcopy(self.store.groups[arn]) for arn in arns if arn in self.store.groups]
        return {
            "reportGroups": found,
            "reportGroupsNotFound": [a for a in arns if a not in self.store.groups],
        }

    def list_report_groups(self, params):
        sort_by = check_enum(params.get("sortBy") or "CREATED_TIME", "sortBy", "ReportGroupSortByType")
        field = {"NAME": "name", "CREATED_TIME": "created", "LAST_MODIFIED_TIME": "lastModified"}[sort_by]
        prefix = group_arn(request_region(), self.ctx.account, "")
        with self.store.lock:
            groups = [group for arn, group in self.store.groups.items() if arn.startswith(prefix)]
        groups.sort(key=lambda group: (group[field], group["name"]), reverse=descending(params))
        page, token = page_of([group["arn"] for group in groups], params)
        return {"reportGroups": page, **token}

    def delete_report_group(self, params):
        arn = params.get("arn") or ""
        with self.store.lock:
            if arn not in self.store.groups:
                raise _invalid(f"Report group {arn} does not exist")  # AWS answers InvalidInputException
            owned = [
                entry["report"]["arn"]
                for entry in self.store.reports.values()
                if entry["report"]["reportGroupArn"] == arn
            ]
            if owned and not params.get("deleteReports"):
                raise _invalid(
                    f"Report group {arn} still has {len(owned)} report(s): pass deleteReports to delete them."
                )
            for report_arn in owned:
                self.store.delete_report(report_arn)
            del self.store.groups[arn]
            self.store.save_groups()
        return {}

    def update_report_group(self, params):
        """UpdateReportGroup: the given export settings and tags replace the group's; reports keep theirs."""
        arn = params.get("arn") or ""
        export = params.get("exportConfig")
        if export is not None:
            _checked_export(export)
        with self.store.lock:
            group = self.store.groups.get(arn)
            if group is None:
                raise _not_found(f"Report group {arn} does not exist")
            if export is not None:
                group["exportConfig"] = export
            if "tags" in params:
                group["tags"] = params["tags"]
            group["lastModified"] = now()
            self.store.save_groups()
            return {"reportGroup": copy.deepcopy(group)}

    def delete_report(self, params):
        arn = params.get("arn") or ""
        with self.store.lock:
            if arn not in self.store.reports:
                raise _invalid(f"Report {arn} does not exist")  # the model has no ResourceNotFoundException
            self.store.delete_report(arn)
        return {}

    def list_reports(self, params):
        return self._reports_page(params, None)

    def list_reports_for_report_group(self, params):
        arn = params.get("reportGroupArn") or ""
        with self.store.lock:
            if arn not in self.store.groups:
                raise _not_found(f"Report group {arn} does not exist")
        return self._reports_page(params, arn)

    def batch_get_reports(self, params):
        arns = _batch(params, "reportArns")
        with self.store.lock:
            found = [
                copy.deepcopy(self.store.reports[arn]["report"]) for arn in arns if arn in self.store.reports
            ]
        return {"reports": found, "reportsNotFound": [a for a in arns if a not in self.store.reports]}

    def describe_test_cases(self, params):
        entry = self._report(params.get("reportArn"), "TEST")
        wanted = params.get("filter") or {}
        cases = [
            case
            for case in entry["items"]
            if wanted.get("status") in (None, case["status"])
            and (wanted.get("keyword") or "") in f"{case['prefix']} {case['name']}"
        ]
        page, token = page_of(cases, params)
        return {"testCases": page, **token}

    def describe_code_coverages(self, params):
        entry = self._report(params.get("reportArn"), "CODE_COVERAGE")
        low, high = (
            params.get("minLineCoveragePercentage", 0.0),
            params.get("maxLineCoveragePercentage", 100.0),
        )
        found = [item for item in entry["items"] if low <= item["lineCoveragePercentage"] <= high]
        field = "lineCoveragePercentage" if params.get("sortBy") == "LINE_COVERAGE_PERCENTAGE" else "filePath"
        found.sort(key=lambda item: item[field], reverse=descending(params, "ASCENDING"))
        page, token = page_of(found, params)
        return {"codeCoverages": page, **token}

    def get_report_group_trend(self, params):
        arn, field = params.get("reportGroupArn") or "", params.get("trendField")
        if field not in _TRENDS:
            raise _invalid(f"trendField must be one of {', '.join(_TRENDS)}.")
        with self.store.lock:
            if arn not in self.store.groups:
                raise _not_found(f"Report group {arn} does not exist")
        count = params.get("numOfReports") or MAX_PAGE
        if not 1 <= count <= MAX_PAGE:
            raise _invalid(f"numOfReports must be 1 to {MAX_PAGE}.")
        values = []
        for entry in self.store.ordered_reports():
            report = entry["report"]
            value = _TRENDS[field](report) if report["reportGroupArn"] == arn else None
            if value is not None and report["status"] != "INCOMPLETE":
                values.append((report["arn"], value))
        values = values[:count]
        numbers = [value for _, value in values]
        stats = (
            {
                "average": _text(sum(numbers) / len(numbers)),
                "max": _text(max(numbers)),
                "min": _text(min(numbers)),
            }
            if numbers
            else {}
        )
        return {"stats": stats, "rawData": [{"reportArn": a, "data": _text(value)} for a, value in values]}

    def _reports_page(self, params, group: str | None) -> dict:
        status = (params.get("filter") or {}).get("status")
        prefix = f"arn:aws:codebuild:{request_region()}:{self.ctx.account}:report/"
        arns = [
            entry["report"]["arn"]
            for entry in self.store.ordered_reports(descending(params))
            if entry["report"]["arn"].startswith(prefix)
            and group in (None, entry["report"]["reportGroupArn"])
            and status in (None, entry["report"]["status"])
        ]
        page, token = page_of(arns, params)
        return {"reports": page, **token}

    def _report(self, arn: str | None, kind: str) -> dict:
        with self.store.lock:
            entry = self.store.reports.get(arn or "")
            if entry is None:
                raise _not_found(f"Report {arn} does not exist")
            if entry["report"]["type"] != kind:
                raise _invalid(f"Report {arn} is a {entry['report']['type']} report, not {kind}.")
            return copy.deepcopy(entry)


def _summary_value(summary: str, key: str):
    return lambda report: (report.get(summary) or {}).get(key)


def _pass_rate(report: dict):
    summary = report.get("testSummary")
    if not summary or not summary["total"]:
        return None
    return round(100.0 * summary["statusCounts"].get("SUCCEEDED", 0) / summary["total"], 2)


_TRENDS = {
    "PASS_RATE": _pass_rate,
    "DURATION": _summary_value("testSummary", "durationInNanoSeconds"),
    "TOTAL": _summary_value("testSummary", "total"),
    "LINE_COVERAGE": _summary_value("codeCoverageSummary", "lineCoveragePercentage"),
    "LINES_COVERED": _summary_value("codeCoverageSummary", "linesCovered"),
    "LINES_MISSED": _summary_value("codeCoverageSummary", "linesMissed"),
    "BRANCH_COVERAGE": _summary_value("codeCoverageSummary", "branchCoveragePercentage"),
    "BRANCHES_COVERED": _summary_value("codeCoverageSummary", "branchesCovered"),
    "BRANCHES_MISSED": _summary_value("codeCoverageSummary", "branchesMissed"),
}


def _text(value: float) -> str:
    return str(round(value, 2)).removesuffix(".0")


def descending(params: dict, default: str = "DESCENDING") -> bool:
    order = params.get("sortOrder") or default
    if order not in ("ASCENDING", "DESCENDING"):
        raise _invalid(f"sortOrder must be ASCENDING or DESCENDING, not {order!r}.")
    return order == "DESCENDING"


def _checked_export(export: dict) -> dict:
    if export.get("exportConfigType") not in ("S3", "NO_EXPORT"):
        raise _invalid("exportConfig.exportConfigType must be S3 or NO_EXPORT.")
    return export


def _batch(params: dict, name: str) -> list[str]:
    arns = params.get(name)
    if not arns or len(arns) > MAX_BATCH:
        raise _invalid(f"{name} must hold 1 to {MAX_BATCH} ARNs.")
    return arns


def page_of(items: list, params: dict) -> tuple[list, dict]:
    """One page of `items` from the offset in nextToken; the next page's token if there is one."""
    size = params.get("maxResults") or MAX_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise _invalid(f"maxResults must be 1 to {MAX_PAGE}.")
    page, token = offset_page(items, params.get("nextToken"), size, _invalid_token)
    return page, with_token({}, token)


def _invalid_token() -> AwsError:
    return _invalid("The nextToken is not valid; pass the nextToken of the previous answer.")
