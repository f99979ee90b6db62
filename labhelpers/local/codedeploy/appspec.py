"""CodeDeploy AppSpec files for EC2/on-premises (version 0.0, Linux), parsed with line numbers.

`load()` turns the text into an `AppSpec` or raises `AppSpecError` naming the file, the line and the
problem. Paths come out normalised: sources and hook locations relative to the revision root,
destinations and permission objects absolute on the instance; none of them can climb out with `..`.
Symbolic links are checked when a path is looked up in a real revision folder (`script_path`,
`source_path`).
"""

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..yamlerrors import describe

APPSPEC_NAMES = ("appspec.yml", "appspec.yaml")
DEFAULT_TIMEOUT = 3600
MAX_EVENT_SECONDS = 3600
FILE_EXISTS_BEHAVIORS = ("DISALLOW", "OVERWRITE", "RETAIN")
SCRIPTABLE_EVENTS = (
    "BeforeBlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
    "BeforeInstall",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
)
AGENT_EVENTS = ("DownloadBundle", "Install", "BlockTraffic", "AllowTraffic")
PERMISSION_TYPES = ("file", "directory")

_TOP_KEYS = ("version", "os", "files", "file_exists_behavior", "permissions", "hooks")
_FILE_KEYS = ("source", "destination")
_HOOK_KEYS = ("location", "timeout", "runas")
_PERMISSION_KEYS = ("object", "pattern", "except", "owner", "group", "mode", "acls", "context", "type")
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class AppSpecError(ValueError):
    """An AppSpec file CodeDeploy would refuse; str() reads `appspec.yml line 12: <reason>`
    (`line 12, column 5` for YAML syntax errors)."""

    def __init__(self, filename: str, line: int | None, reason: str, column: int | None = None):
        where = f"{filename} line {line}" if line else filename
        where += f", column {column}" if line and column else ""
        super().__init__(f"{where}: {reason}")
        self.filename = filename
        self.line = line
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class FileMapping:
    source: str  # relative to the revision root; "." is the whole revision
    destination: str  # absolute on the instance
    line: int


@dataclass(frozen=True)
class Permission:
    object: str  # absolute on the instance
    pattern: str = "**"
    except_: tuple[str, ...] = ()
    owner: str | None = None
    group: str | None = None
    mode: int | None = None
    acls: tuple[str, ...] = ()
    context: Mapping[str, str] | None = None
    types: tuple[str, ...] = PERMISSION_TYPES
    line: int = 0


@dataclass(frozen=True)
class Hook:
    location: str  # relative to the revision root
    timeout: int = DEFAULT_TIMEOUT
    runas: str | None = None
    line: int = 0


@dataclass(frozen=True)
class AppSpec:
    filename: str
    files: tuple[FileMapping, ...] = ()
    file_exists_behavior: str | None = None  # None: the deployment's setting applies
    permissions: tuple[Permission, ...] = ()
    hooks: Mapping[str, tuple[Hook, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # what CodeDeploy silently ignores, said out loud

    def script_path(self, revision_dir: Path, hook: Hook) -> Path:
        """Where `hook`'s script is in `revision_dir`; refused if a symbolic link leads outside it."""
        path = revision_dir / hook.location
        if not path.resolve().is_relative_to(revision_dir.resolve()):
            raise AppSpecError(
                self.filename,
                hook.line,
                f"hook script {hook.location} leads outside the revision (symbolic link)",
            )
        return path

    def source_path(self, revision_dir: Path, mapping: FileMapping) -> Path:
        """Where `mapping`'s source is in `revision_dir`; refused if a folder on the way is a symbolic link
        leading outside it. The source itself may be a link: Install copies links as links."""
        path = revision_dir / mapping.source
        if mapping.source != "." and not path.parent.resolve().is_relative_to(revision_dir.resolve()):
            raise AppSpecError(
                self.filename,
                mapping.line,
                f"source {mapping.source} leads outside the revision (symbolic link)",
            )
        return path


def load(text: str, filename: str = "appspec.yml") -> AppSpec:
    """Parse AppSpec text as the CodeDeploy agent would, or raise AppSpecError."""
    return _Parser(filename).parse(text)


def load_revision(revision_dir: Path) -> AppSpec:
    """The AppSpec at the root of an extracted revision."""
    for name in APPSPEC_NAMES:
        path = revision_dir / name
        if path.is_file():
            return load(path.read_text(encoding="utf-8"), name)
    raise AppSpecError(
        APPSPEC_NAMES[0],
        None,
        "the revision has no appspec.yml at its root; CodeDeploy needs one to deploy it",
    )


def _relative_path(raw: str) -> str | None:
    """`raw` relative to the revision root ("." for the root itself); None if it climbs out with `..`."""
    parts = _normal_parts(raw)
    return None if parts is None else "/".join(parts) or "."


def _absolute_path(raw: str) -> str | None:
    """`raw` as a normalised absolute path; None if it is relative or climbs above `/`."""
    parts = _normal_parts(raw) if raw.startswith("/") else None
    return None if parts is None else "/" + "/".join(parts)


def _normal_parts(raw: str) -> list[str] | None:
    parts: list[str] = []
    for part in raw.split("/"):
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return parts


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _closest(name: str, choices: tuple[str, ...]) -> str:
    folded = {choice.lower(): choice for choice in choices}
    match = difflib.get_close_matches(name.lower(), folded, n=1, cutoff=0.8)
    return f" (did you mean {folded[match[0]]}?)" if match else ""


class _Parser:
    def __init__(self, filename: str):
        self.filename = filename
        self.warnings: list[str] = []

    def error(self, node: Node | None, reason: str) -> AppSpecError:
        return AppSpecError(self.filename, _line(node) if node is not None else None, reason)

    def parse(self, text: str) -> AppSpec:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            line, column, reason = describe(text, exc, "AppSpec")
            raise AppSpecError(self.filename, line, reason, column) from None
        except yaml.YAMLError as exc:
            raise AppSpecError(self.filename, None, f"not valid YAML: {exc}") from None
        if root is None:
            raise AppSpecError(
                self.filename, 1, "the file is empty; it needs at least version: 0.0 and os: linux"
            )
        top = self.mapping(root, "the file", _TOP_KEYS)
        self.check_version(top, root)
        self.check_os(top, root)
        behavior = self.optional_text(top, "file_exists_behavior", "file_exists_behavior")
        if behavior is not None and behavior not in FILE_EXISTS_BEHAVIORS:
            raise self.error(
                top["file_exists_behavior"][1],
                f"file_exists_behavior must be one of {', '.join(FILE_EXISTS_BEHAVIORS)}, not {behavior!r}",
            )
        return AppSpec(
            filename=self.filename,
            files=tuple(self.file_mapping(n, f"files[{i}]") for i, n in enumerate(self.items(top, "files"))),
            file_exists_behavior=behavior,
            permissions=tuple(
                self.permission(n, f"permissions[{i}]") for i, n in enumerate(self.items(top, "permissions"))
            ),
            hooks=self.hooks(top),
            warnings=tuple(self.warnings),
        )

    # --- YAML shapes ---------------------------------------------------------------------------------

    def mapping(self, node: Node, where: str, known: tuple[str, ...]) -> dict[str, tuple[Node, Node]]:
        """Keys to (key node, value node); duplicate keys refused, unknown keys noted as warnings."""
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{where} must be a mapping of keys to values")
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is None:
                raise self.error(key_node, f"{where} has a key that is not a plain name")
            if key in entries:
                first = _line(entries[key][0])
                raise self.error(key_node, f"{where} has the key {key!r} twice (first on line {first})")
            entries[key] = (key_node, value_node)
            if known and key not in known:
                self.warnings.append(
                    f"line {_line(key_node)}: {where} has the key {key!r}{_closest(key, known)}, "
                    f"which CodeDeploy ignores"
                )
        return entries

    def items(self, entries: dict[str, tuple[Node, Node]], key: str) -> list[Node]:
        if key not in entries or entries[key][1].tag == _NULL:
            return []
        node = entries[key][1]
        if not isinstance(node, SequenceNode):
            raise self.error(node, f"{key} must be a list (each entry starts with '- ')")
        return node.value

    def text(self, entries: dict[str, tuple[Node, Node]], key: str, where: str, parent: Node) -> str:
        value = self.optional_text(entries, key, where)
        if value is None:
            typo = difflib.get_close_matches(key, [k for k in entries if k != key], n=1, cutoff=0.8)
            hint = f" (is {typo[0]!r} a misspelling?)" if typo else ""
            raise self.error(parent, f"{where} is required{hint}")
        return value

    def optional_text(self, entries: dict[str, tuple[Node, Node]], key: str, where: str) -> str | None:
        if key not in entries or entries[key][1].tag == _NULL:
            return None
        node = entries[key][1]
        if not isinstance(node, ScalarNode):
            raise self.error(node, f"{where} must be a single value, not a list or mapping")
        value = node.value.strip()
        return value or None

    def text_list(self, entries: dict[str, tuple[Node, Node]], key: str, where: str) -> tuple[str, ...]:
        if key not in entries or entries[key][1].tag == _NULL:
            return ()
        node = entries[key][1]
        if not isinstance(node, SequenceNode) or not all(isinstance(n, ScalarNode) for n in node.value):
            raise self.error(node, f"{where} must be a list of values")
        return tuple(n.value.strip() for n in node.value)

    # --- sections ------------------------------------------------------------------------------------

    def check_version(self, top: dict[str, tuple[Node, Node]], root: Node) -> None:
        if "version" not in top:
            raise self.error(root, "version is required and must be 0.0")
        node = top["version"][1]
        numeric = isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT) and float(node.value) == 0.0
        if not (numeric or (isinstance(node, ScalarNode) and node.value == "0.0")):
            shown = node.value if isinstance(node, ScalarNode) else "a list or mapping"
            raise self.error(node, f"version must be 0.0 (the only AppSpec version), not {shown}")

    def check_os(self, top: dict[str, tuple[Node, Node]], root: Node) -> None:
        operating_system = self.text(top, "os", "os", root)
        if operating_system == "windows":
            raise self.error(
                top["os"][1],
                "os: windows is for Windows Server instances, and local instances are Linux (Amazon Linux); "
                "deploy this revision to a Windows EC2 instance, or write an os: linux AppSpec with Linux "
                "scripts",
            )
        if operating_system != "linux":
            raise self.error(top["os"][1], f"os must be linux (or windows), not {operating_system!r}")

    def file_mapping(self, node: Node, where: str) -> FileMapping:
        entries = self.mapping(node, where, _FILE_KEYS)
        source = self.text(entries, "source", f"{where}.source", node)
        destination = self.text(entries, "destination", f"{where}.destination", node)
        relative = _relative_path(source)
        if relative is None:
            raise self.error(
                entries["source"][1], f"{where}.source {source} climbs out of the revision with '..'"
            )
        absolute = _absolute_path(destination)
        if absolute is None:
            reason = "climbs above / with '..'" if destination.startswith("/") else "must be an absolute path"
            raise self.error(
                entries["destination"][1], f"{where}.destination {destination} {reason}, like /var/www/html"
            )
        return FileMapping(source=relative, destination=absolute, line=_line(node))

    def permission(self, node: Node, where: str) -> Permission:
        entries = self.mapping(node, where, _PERMISSION_KEYS)
        raw_object = self.text(entries, "object", f"{where}.object", node)
        target = _absolute_path(raw_object)
        if target is None:
            raise self.error(entries["object"][1], f"{where}.object {raw_object} must be an absolute path")
        types = self.text_list(entries, "type", f"{where}.type") or PERMISSION_TYPES
        for kind in types:
            if kind not in PERMISSION_TYPES:
                raise self.error(
                    entries["type"][1], f"{where}.type can list file and directory, not {kind!r}"
                )
        return Permission(
            object=target,
            pattern=self.optional_text(entries, "pattern", f"{where}.pattern") or "**",
            except_=self.text_list(entries, "except", f"{where}.except"),
            owner=self.optional_text(entries, "owner", f"{where}.owner"),
            group=self.optional_text(entries, "group", f"{where}.group"),
            mode=self.mode(entries, where),
            acls=self.text_list(entries, "acls", f"{where}.acls"),
            context=self.context(entries, where),
            types=types,
            line=_line(node),
        )

    def mode(self, entries: dict[str, tuple[Node, Node]], where: str) -> int | None:
        if self.optional_text(entries, "mode", f"{where}.mode") is None:
            return None
        node = entries["mode"][1]
        raw = node.value.strip()
        if node.tag == _INT and len(raw) > 1 and raw.startswith("0"):
            raise self.error(
                node,
                f"{where}.mode {raw} needs quotes ('{raw}') or no leading zero ({raw.lstrip('0') or '0'}): "
                "unquoted, YAML reads it as an octal number and the mode would come out wrong",
            )
        if not re.fullmatch(r"[0-7]{1,4}", raw):
            raise self.error(node, f"{where}.mode must be chmod digits like 644 or '0755', not {raw!r}")
        return int(raw, 8)

    def context(self, entries: dict[str, tuple[Node, Node]], where: str) -> Mapping[str, str] | None:
        if "context" not in entries or entries["context"][1].tag == _NULL:
            return None
        node = entries["context"][1]
        keys = self.mapping(node, f"{where}.context", ("user", "type", "range"))
        context = {key: self.text(keys, key, f"{where}.context.{key}", node) for key in keys}
        if "type" not in context:
            raise self.error(node, f"{where}.context.type is required")
        return context

    def hooks(self, top: dict[str, tuple[Node, Node]]) -> dict[str, tuple[Hook, ...]]:
        if "hooks" not in top or top["hooks"][1].tag == _NULL:
            return {}
        hooks: dict[str, tuple[Hook, ...]] = {}
        for event, (key_node, value_node) in self.mapping(top["hooks"][1], "hooks", ()).items():
            where = f"hooks.{event}"
            if event in AGENT_EVENTS:
                self.warnings.append(
                    f"line {_line(key_node)}: {event} belongs to the CodeDeploy agent; its scripts never run"
                )
            elif event not in SCRIPTABLE_EVENTS:
                self.warnings.append(
                    f"line {_line(key_node)}: {event} is not an EC2/on-premises lifecycle event"
                    f"{_closest(event, SCRIPTABLE_EVENTS)}; CodeDeploy never runs its scripts"
                )
            if not isinstance(value_node, SequenceNode) or not value_node.value:
                raise self.error(value_node, f"{where} must list scripts, each starting with '- location:'")
            scripts, explicit_seconds = [], 0
            for index, item in enumerate(value_node.value):
                entries = self.mapping(item, f"{where}[{index}]", _HOOK_KEYS)
                timeout = self.timeout(entries, f"{where}[{index}]")
                explicit_seconds += timeout or 0
                scripts.append(self.hook(item, entries, f"{where}[{index}]", timeout or DEFAULT_TIMEOUT))
            if explicit_seconds > MAX_EVENT_SECONDS:
                self.warnings.append(
                    f"line {_line(value_node)}: {where} timeouts add up to {explicit_seconds} seconds, but "
                    f"one lifecycle event may take at most {MAX_EVENT_SECONDS}; the event fails when it "
                    "runs out"
                )
            hooks[event] = tuple(scripts)
        return hooks

    def hook(self, node: Node, entries: dict[str, tuple[Node, Node]], where: str, timeout: int) -> Hook:
        raw_location = self.text(entries, "location", f"{where}.location", node)
        location = _relative_path(raw_location)
        if location is None or location == ".":
            raise self.error(
                entries["location"][1],
                f"{where}.location {raw_location} must name a script inside the revision, "
                "like scripts/start.sh",
            )
        runas = self.optional_text(entries, "runas", f"{where}.runas")
        return Hook(location=location, timeout=timeout, runas=runas, line=_line(node))

    def timeout(self, entries: dict[str, tuple[Node, Node]], where: str) -> int | None:
        raw = self.optional_text(entries, "timeout", f"{where}.timeout")
        if raw is None:
            return None
        node = entries["timeout"][1]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_EVENT_SECONDS:
            raise self.error(
                node,
                f"{where}.timeout must be a whole number of seconds from 1 to {MAX_EVENT_SECONDS}, not {raw}",
            )
        return int(raw)
