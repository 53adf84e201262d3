"""Read regedit exports (``.reg`` files) into keys and typed values.

Both formats ``regedit /e`` and ``reg export`` write are read:

- ``Windows Registry Editor Version 5.00``: usually UTF-16LE with a BOM and
  CRLF line ends; ``hex(2)``/``hex(7)``/``hex(1)`` data is UTF-16LE text.
- ``REGEDIT4``: ANSI (the exporting machine's code page, cp1252 assumed unless
  told otherwise); hex string data is in that code page too.

Values: ``"text"`` (escapes ``\\\\`` and ``\\"``), ``dword:``, ``hex:`` and
``hex(n):`` with ``\\``-continued lines, ``-`` (a deletion, skipped). A
``[-KEY]`` deletion line is skipped with its values. A file cut off in the
middle of a value (a truncated export) keeps every complete key and value and
reports the cut as a problem; nothing is guessed.

``windows_raw_from_reg`` turns an export of the Uninstall, Office and SQL Server
keys into the raw lists ``win_software_facts`` returns, so an offline export
goes through the same Programs and Features rules (``sam_engine.platforms.windows``).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sam_engine.model import Problem

HEADER_V5 = "Windows Registry Editor Version 5.00"
HEADER_V4 = "REGEDIT4"

# hex(n) type numbers of winnt.h
REG_TYPES = {0: "REG_NONE", 1: "REG_SZ", 2: "REG_EXPAND_SZ", 3: "REG_BINARY", 4: "REG_DWORD",
             5: "REG_DWORD_BIG_ENDIAN", 6: "REG_LINK", 7: "REG_MULTI_SZ", 8: "REG_RESOURCE_LIST",
             9: "REG_FULL_RESOURCE_DESCRIPTOR", 10: "REG_RESOURCE_REQUIREMENTS_LIST", 11: "REG_QWORD"}
_TEXT_TYPES = {1, 2, 6}


@dataclass(frozen=True, slots=True)
class RegValue:
    """One value: ``data`` is str (SZ, EXPAND_SZ), int (DWORD, QWORD), list[str] (MULTI_SZ) or bytes."""

    type: str
    data: object


@dataclass(slots=True)
class RegKey:
    path: str  # as written, e.g. HKEY_LOCAL_MACHINE\SOFTWARE\...
    line: int
    values: dict[str, RegValue] = field(default_factory=dict)  # "" is the default value (@)


@dataclass(slots=True)
class RegExport:
    source: str
    version: str  # "5.00" or "4"
    keys: list[RegKey]
    problems: list[Problem]


def decode_reg_bytes(data: bytes, ansi: str = "cp1252") -> str:
    """Text of an export: UTF-16 when a BOM says so, UTF-8 (BOM optional), else the ANSI code page."""
    if data.startswith(codecs.BOM_UTF16_LE):
        return data[2:].decode("utf-16-le", errors="replace")
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", errors="replace")
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(ansi, errors="replace")


def _read_quoted(text: str, pos: int) -> tuple[str, int] | None:
    """The unescaped string starting after the quote at ``pos - 1``, and the index after its closing quote."""
    out = []
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif ch == '"':
            return "".join(out), pos + 1
        else:
            out.append(ch)
            pos += 1
    return None


def _hex_bytes(body: str) -> bytes:
    body = body.replace("\\", "").replace(" ", "").replace("\t", "").strip().rstrip(",")
    return bytes(int(b, 16) for b in body.split(",")) if body else b""


def _decode_typed(type_no: int, raw: bytes, unicode: bool, ansi: str) -> RegValue:
    name = REG_TYPES.get(type_no, f"REG_TYPE_{type_no}")
    if type_no in _TEXT_TYPES or type_no == 7:
        text = raw.decode("utf-16-le" if unicode else ansi, errors="replace")
        if type_no == 7:
            return RegValue(name, [part for part in text.split("\0") if part])
        return RegValue(name, text.split("\0", 1)[0])
    if type_no == 4 and len(raw) == 4:
        return RegValue(name, int.from_bytes(raw, "little"))
    if type_no == 5 and len(raw) == 4:
        return RegValue(name, int.from_bytes(raw, "big"))
    if type_no == 11 and len(raw) == 8:
        return RegValue(name, int.from_bytes(raw, "little"))
    return RegValue(name, raw)


def _parse_data(data: str, unicode: bool, ansi: str) -> RegValue:
    """A value's data after ``=``; raises ValueError when it is not one of regedit's forms."""
    if data.startswith('"'):
        got = _read_quoted(data, 1)
        if got is None or data[got[1]:].strip():
            raise ValueError("malformed string value")
        return RegValue("REG_SZ", got[0])
    lowered = data.lower()
    if lowered.startswith("dword:"):
        return RegValue("REG_DWORD", int(data[6:].strip(), 16))
    if lowered.startswith("hex:"):
        return RegValue("REG_BINARY", _hex_bytes(data[4:]))
    if lowered.startswith("hex("):
        close = data.index(")")
        if data[close + 1:close + 2] != ":":
            raise ValueError("malformed hex(n) value")
        return _decode_typed(int(data[4:close], 16), _hex_bytes(data[close + 2:]), unicode, ansi)
    raise ValueError(f"unknown value form {data[:20]!r}")


def parse_reg_text(text: str, source: str = "<reg>", ansi: str = "cp1252") -> RegExport:
    """Keys and values of an export's text (the BOM already removed)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    problems: list[Problem] = []
    header = lines[0].strip() if lines else ""
    if header == HEADER_V5:
        version, unicode = "5.00", True
    elif header == HEADER_V4:
        version, unicode = "4", False
    else:
        problems.append(Problem(f"{source}:1", f"not a regedit export (header {header[:40]!r})"))
        return RegExport(source, "", [], problems)
    keys: list[RegKey] = []
    current: RegKey | None = None
    n = 1
    while n < len(lines):
        start = n
        line = lines[n].strip()
        n += 1
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                problems.append(Problem(f"{source}:{start + 1}", "unterminated key line"))
                current = None
            elif line.startswith("[-"):
                current = None  # a deletion: its values are not part of the export's content
            else:
                current = RegKey(line[1:-1], start + 1)
                keys.append(current)
            continue
        # a value: "name"=data or @=data
        if line.startswith("@="):
            name, data = "", line[2:]
        elif line.startswith('"') and (got := _read_quoted(line, 1)) and line[got[1]:].startswith("="):
            name, data = got[0], line[got[1] + 1:]
        else:
            problems.append(Problem(f"{source}:{start + 1}", f"unreadable line {line[:40]!r}", "warning"))
            continue
        cut = False
        if data.startswith('"'):  # a string may hold raw line breaks
            while _read_quoted(data, 1) is None and not (cut := n >= len(lines)):
                data += "\n" + lines[n]
                n += 1
        else:  # hex data goes on over lines ending in a backslash; regedit never leaves one blank
            while data.endswith("\\") and not (cut := n >= len(lines) or not lines[n].strip()):
                data = data[:-1] + lines[n].strip()
                n += 1
        if cut:
            problems.append(Problem(f"{source}:{start + 1}", f"value {name!r} cut off at the end of the file"))
            continue
        if data == "-":
            continue  # a deletion
        if current is None:
            problems.append(Problem(f"{source}:{start + 1}", "value outside a key", "warning"))
            continue
        try:
            current.values[name] = _parse_data(data, unicode, ansi)
        except (ValueError, IndexError) as exc:
            problems.append(Problem(f"{source}:{start + 1}", f"value {name!r}: {exc}"))
    return RegExport(source, version, keys, problems)


def read_reg_file(path: str | Path, ansi: str = "cp1252") -> RegExport:
    """Parse a ``.reg`` file of any of regedit's encodings."""
    path = Path(path)
    return parse_reg_text(decode_reg_bytes(path.read_bytes(), ansi), str(path), ansi)


# --- the module's raw shape from an export ------------------------------------------------

# the values win_software_facts returns per Uninstall entry and per Office registration
UNINSTALL_VALUES = ("DisplayName", "DisplayVersion", "Publisher", "InstallDate", "InstallLocation",
                    "SystemComponent", "ParentKeyName", "ReleaseType", "WindowsInstaller")
OFFICE_VALUES = ("ProductName", "ProductNameNonQualified", "ProductNameVersion", "ConvertToEdition",
                 "ProductID", "ProductCode")
_ROOTS = {"hkey_local_machine": "HKLM", "hklm": "HKLM", "hkey_users": "HKU", "hku": "HKU",
          "hkey_current_user": "HKCU", "hkcu": "HKCU"}


def _raw(value: Any) -> Any:
    data = getattr(value, "data", None)
    if isinstance(data, list):
        return "\n".join(data)
    return None if isinstance(data, bytes) else data


def windows_raw_from_reg(export: RegExport, native_view: str = "HKLM64", sid: str | None = None) -> dict[str, Any]:
    """The module's ``uninstall``, ``office`` and ``sql_instances`` lists from a regedit export.

    Machine keys below ``WOW6432Node`` are ``HKLM32``, other machine keys
    ``native_view``; ``HKEY_USERS\\<SID>`` keys are ``HKU`` with that SID,
    ``HKEY_CURRENT_USER`` keys ``HKU`` with ``sid``.
    """
    out: dict[str, Any] = {"uninstall": [], "office": [], "sql_instances": []}
    sql_setup: dict[tuple[str, str], dict] = {}
    sql_names: list[tuple[str, str, str]] = []
    for key in export.keys:
        parts = key.path.split("\\")
        root = _ROOTS.get(parts[0].lower())
        if root is None:
            continue
        owner = sid
        if root == "HKU":
            owner, parts = parts[1] if len(parts) > 1 else None, parts[1:]
        rest = parts[1:]
        lowered = [p.lower() for p in rest]
        view = native_view
        if lowered[:2] == ["software", "wow6432node"]:
            view, rest, lowered = "HKLM32", rest[:1] + rest[2:], lowered[:1] + lowered[2:]
        if root != "HKLM":
            view = "HKU"
        values = {name: _raw(v) for name, v in key.values.items()}
        if lowered[:-1] == ["software", "microsoft", "windows", "currentversion", "uninstall"]:
            entry = {"hive": view, "sid": owner if view == "HKU" else None, "key": rest[-1]}
            entry.update({name: values.get(name) for name in UNINSTALL_VALUES})
            out["uninstall"].append(entry)
        elif len(rest) == 6 and lowered[:3] == ["software", "microsoft", "office"] and lowered[4] == "registration":
            if "ProductID" in values or "DigitalProductID" in values:
                reg = {"view": view, "version": rest[3], "key": rest[5]}
                reg.update({name: values.get(name) for name in OFFICE_VALUES})
                out["office"].append(reg)
        elif lowered[:3] == ["software", "microsoft", "microsoft sql server"]:
            if lowered[3:] == ["instance names", "sql"]:
                sql_names += [(view, name, str(v)) for name, v in values.items() if name]
            elif len(rest) == 5 and lowered[4] == "setup":
                sql_setup[(view, rest[3].lower())] = values
    for view, instance, instance_id in sql_names:
        setup = sql_setup.get((view, instance_id.lower()), {})
        out["sql_instances"].append({"view": view, "instance": instance, "instance_id": instance_id,
                                     **{n: setup.get(n) for n in ("Edition", "EditionType", "Version", "PatchLevel")}})
    return out
