"""UUIDs as hypervisors and guests report them: one canonical form, and VMware's byte order.

A VM's BIOS UUID is the linking key between a scanned guest (its DMI
``product_uuid``, ``Win32_ComputerSystemProduct.UUID``, ``IOPlatformUUID``) and
the VM its hypervisor reports. Each side spells it its own way (upper case,
braces, no hyphens, the spaced ``uuid.bios`` of a ``.vmx``), and firmware fills
unset ones with placeholders that many machines share. ``canonical`` turns all
of them into one lower-case hyphenated form, or None when the value cannot
identify a machine.

SMBIOS 2.6+ stores the first three UUID fields little-endian; older firmware
and some tools (VMware's ``config.uuid`` against the guest's DMI view, Hyper-V
against older guests) read them big-endian. ``swapped`` converts between the
two; linking tries a guest's UUID as is and swapped (``candidates``), so every
parser only canonicalises and never guesses the byte order.
"""

from __future__ import annotations

import re

_HEX32 = re.compile(r"[0-9a-f]{32}")
# Separators the known spellings put between hex digits: hyphens (RFC 4122),
# spaces (VMware .vmx "56 4d ... 7c-..."), braces (Windows GUIDs).
_NOISE = re.compile(r"[\s{}\-]")
_URN = "urn:uuid:"

# Values firmware puts where no real UUID was set: shared by many machines, so
# linking on them would join unrelated hosts.
_PLACEHOLDERS = frozenset(
    {
        "0" * 32,
        "f" * 32,
        "03000200040005000006000700080009",  # common "To Be Filled By O.E.M." boards
        "00020003000400050006000700080009",  # the same placeholder read big-endian
    }
)


def canonical(value: object) -> str | None:
    """The UUID in lower-case 8-4-4-4-12 form, or None when ``value`` is not a usable UUID.

    Accepts hyphenated, plain 32-digit, braced, ``urn:uuid:`` and VMware's spaced
    spelling in any case. None for anything else: empty, non-text, text such as
    "Not Settable" or "Not Present", and the all-zero, all-F and OEM placeholders.
    """
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text.startswith(_URN):
        text = text[len(_URN):]
    digits = _NOISE.sub("", text)
    if not _HEX32.fullmatch(digits) or digits in _PLACEHOLDERS:
        return None
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def swapped(value: str) -> str:
    """The canonical UUID with its first three fields byte-reversed (SMBIOS little-endian ⇄ big-endian).

    ``value`` must be canonical (``canonical``'s output); the swap is its own inverse.
    """
    first, second, third, fourth, fifth = value.split("-")
    return "-".join((_reverse_bytes(first), _reverse_bytes(second), _reverse_bytes(third), fourth, fifth))


def candidates(value: object) -> tuple[str, ...]:
    """The canonical UUID and its swapped form, in that order (one entry when both are equal); () when unusable."""
    own = canonical(value)
    if own is None:
        return ()
    other = swapped(own)
    return (own,) if other == own else (own, other)


def _reverse_bytes(field: str) -> str:
    return "".join(field[i:i + 2] for i in range(len(field) - 2, -1, -2))
