"""topology.uuids: canonical UUIDs and the SMBIOS byte-order swap, on spellings real tools print."""

from __future__ import annotations

import pytest

from sam_engine.topology import uuids

# The same UUID as DMI's product_uuid, Windows (braced upper case), a .vmx
# uuid.bios line and an un-hyphenated dump spell it.
SPELLINGS = [
    "4c4c4544-0042-3510-8051-b4c04f4a4d32",
    "4C4C4544-0042-3510-8051-B4C04F4A4D32",
    "{4C4C4544-0042-3510-8051-B4C04F4A4D32}",
    "urn:uuid:4c4c4544-0042-3510-8051-b4c04f4a4d32",
    "4c 4c 45 44 00 42 35 10-80 51 b4 c0 4f 4a 4d 32",
    "4c4c454400423510" "8051b4c04f4a4d32",
    "  4c4c4544-0042-3510-8051-b4c04f4a4d32\n",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_has_one_canonical_form(spelling):
    assert uuids.canonical(spelling) == "4c4c4544-0042-3510-8051-b4c04f4a4d32"


@pytest.mark.parametrize(
    "value",
    [
        None, 42, b"4c4c4544004235108051b4c04f4a4d32", "", "   ", "Not Settable", "Not Present",
        "To Be Filled By O.E.M.", "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009", "4c4c4544-0042-3510-8051-b4c04f4a4d3",  # one digit short
        "4c4c4544-0042-3510-8051-b4c04f4a4d32a", "4c4c4544-0042-3510-8051-b4c04f4a4g32",
        "4c4c4544\x00-0042-3510-8051-b4c04f4a4d32", "4c4c4544-0042-3510-8051-b4c04f4a4d32\ud800",
    ],
)
def test_unusable_values_are_none(value):
    assert uuids.canonical(value) is None


def test_swap_reverses_the_first_three_fields_bytewise():
    # VMware: the vCenter config.uuid 421c6a6e-... is the guest's DMI 6e6a1c42-...
    assert uuids.swapped("421c6a6e-9b3a-4f1c-8d2e-0a1b2c3d4e5f") == "6e6a1c42-3a9b-1c4f-8d2e-0a1b2c3d4e5f"


def test_swap_is_its_own_inverse():
    value = "00112233-4455-6677-8899-aabbccddeeff"
    assert uuids.swapped(value) == "33221100-5544-7766-8899-aabbccddeeff"
    assert uuids.swapped(uuids.swapped(value)) == value


def test_candidates_as_is_then_swapped():
    assert uuids.candidates("{421C6A6E-9B3A-4F1C-8D2E-0A1B2C3D4E5F}") == (
        "421c6a6e-9b3a-4f1c-8d2e-0a1b2c3d4e5f",
        "6e6a1c42-3a9b-1c4f-8d2e-0a1b2c3d4e5f",
    )


def test_candidates_of_a_palindromic_uuid_is_one_entry():
    assert uuids.candidates("11111111-2222-3333-4444-555555555555") == ("11111111-2222-3333-4444-555555555555",)


def test_candidates_of_an_unusable_value_is_empty():
    assert uuids.candidates("Not Settable") == ()
    assert uuids.candidates("00000000-0000-0000-0000-000000000000") == ()
