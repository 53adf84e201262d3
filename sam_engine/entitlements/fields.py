"""Parsers for single entitlement fields: text, metric, quantity, dates, money, currency.

Each parser takes a raw value (text from a CSV cell, a YAML scalar or a CLI
flag; or an already typed value) and the ``ParseOptions`` of its input, and
returns the normalised value or raises ``FieldError`` saying what was
expected and what was found::

    >>> parse_money("1.234,50 €", ParseOptions(decimal_comma=True))
    ('1234.50', 'EUR', '€')
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

from sam_engine.licensing.versions import version_in_range
from sam_engine.located_yaml import quoted
from sam_engine.vocabulary import LICENSING_CHOICES, METRICS, metric_name

UNLIMITED = object()  # what parse_quantity returns for "unlimited"

# No purchase counts or costs more than 15 integer digits; the bound also keeps a hostile
# 5,000-digit cell from reaching int(), which refuses more than 4,300 digits with a traceback.
MAX_DIGITS = 15
MAX_DECIMALS = 9

# Active ISO 4217 codes (data: extend here when the standard changes).
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV
MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG
SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN
UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split())
SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}

_TRUE = {"true", "yes", "y", "1", "x"}
_FALSE = {"false", "no", "n", "0"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AMOUNT_POINT = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_AMOUNT_COMMA = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?")
_CURRENCY_PREFIX = re.compile(r"([$€£]|[A-Za-z]{3})\s*(.*)", re.S)
_CURRENCY_SUFFIX = re.compile(r"(.*?)\s*([$€£]|[A-Za-z]{3})", re.S)
_GROUPING_SPACES = re.compile(r"[\s\u00a0\u202f']")


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How one input writes its values.

    ``date_format`` is a ``strptime`` format accepted besides ISO
    ``YYYY-MM-DD`` (``%d/%m/%Y``); ``decimal_comma`` reads ``1.234,50``;
    ``list_separator`` splits list fields written as one text (keys in a cell).
    """

    date_format: str | None = None
    decimal_comma: bool = False
    list_separator: str = ";"


class FieldError(ValueError):
    """A value that does not parse; the text says what was expected."""


def shown(value) -> str:
    """A value quoted for a message (``"-3"``): one inert line, cut when long (``located_yaml.quoted``)."""
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return quoted(str(value))


def _scalar_text(value, what: str) -> str:
    """The stripped text of a scalar. Text that is no Unicode (a command-line argument or stdin line
    holding a byte UTF-8 cannot decode arrives as a lone surrogate) is refused without quoting it:
    it may be a licence key, and it could be neither stored nor printed."""
    if isinstance(value, (list, tuple, dict, set)):
        raise FieldError(f"expected {what}, got {shown(value)}")
    text = str(value)
    bad = next((n for n, c in enumerate(text, 1) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:
        raise FieldError(f"not valid UTF-8 text (character {bad} is a byte UTF-8 cannot decode)")
    return text.strip()


def parse_text(value, options: ParseOptions) -> str:
    return _scalar_text(value, "text")


def parse_version_range(value, options: ParseOptions) -> str:
    """A range in ``versions`` syntax (``>=2016,<2020``, ``17.*``), kept as written."""
    text = _scalar_text(value, "a version range")
    try:
        version_in_range("0", text)
    except ValueError:
        raise FieldError(f'expected a version range like ">=2016,<2020" or "17.*", got {shown(value)}') from None
    return text


def parse_metric(value, options: ParseOptions) -> str:
    text = _scalar_text(value, "a metric")
    name = metric_name(text)
    if name is None:
        raise FieldError(f"unknown metric {shown(text)}; expected one of {', '.join(sorted(METRICS))}")
    return name


def parse_quantity(value, options: ParseOptions):
    """A whole number >= 0 of at most ``MAX_DIGITS`` digits, or ``UNLIMITED`` for the word ``unlimited``."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10 ** MAX_DIGITS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        raise FieldError(f"expected a whole number >= 0 of at most {MAX_DIGITS} digits, got a larger one")
    text = _scalar_text(value, "a whole number >= 0")
    if text.casefold() == "unlimited":
        return UNLIMITED
    if not text.isascii() or not text.isdigit():
        raise FieldError(f"expected a whole number >= 0, got {shown(value)}")
    if len(text.lstrip("0")) > MAX_DIGITS:
        raise FieldError(f"expected a whole number >= 0 of at most {MAX_DIGITS} digits, got {shown(value)}")
    return int(text)


def parse_licensing(value, options: ParseOptions) -> str:
    """``host`` (licence the physical servers the VMs run on) or ``vm`` (licence each VM)."""
    text = _scalar_text(value, "host or vm").casefold()
    if text not in LICENSING_CHOICES:
        raise FieldError(f"expected {' or '.join(LICENSING_CHOICES)} (licence the VMs' host, or each VM), "
                         f"got {shown(value)}")
    return text


def parse_pack_size(value, options: ParseOptions) -> int:
    """A whole number >= 1: how many metric units one priced pack holds (2-core packs: 2)."""
    size = parse_quantity(value, options)
    if size is UNLIMITED or size < 1:
        raise FieldError(f"expected a whole number >= 1, got {shown(value)}")
    return size


def human_date_format(fmt: str) -> str:
    """``%d/%m/%Y`` -> ``DD/MM/YYYY``, for messages."""
    for code, text in (("%d", "DD"), ("%m", "MM"), ("%Y", "YYYY"), ("%y", "YY"), ("%b", "Mon"), ("%B", "Month")):
        fmt = fmt.replace(code, text)
    return fmt


def parse_date(value, options: ParseOptions) -> str:
    """An ISO date text; ISO ``YYYY-MM-DD`` always, ``options.date_format`` too."""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = _scalar_text(value, "a date")
    no_such_day = False
    try:
        if _ISO_DATE.fullmatch(text):
            return datetime.date.fromisoformat(text).isoformat()
        if options.date_format:
            return datetime.datetime.strptime(text, options.date_format).date().isoformat()
    except ValueError as exc:
        no_such_day = "day is out of range for month" in str(exc)  # both parsers' words for 2025-02-29
    expected = "YYYY-MM-DD"
    if options.date_format and human_date_format(options.date_format) != expected:
        expected = f"{human_date_format(options.date_format)} or {expected}"
    raise FieldError(f"expected a date {expected}, got {shown(value)}"
                     + (", a day that does not exist" if no_such_day else ""))


def parse_bool(value, options: ParseOptions) -> bool:
    if isinstance(value, bool):
        return value
    text = _scalar_text(value, "yes or no").casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FieldError(f"expected yes or no (true/false), got {shown(value)}")


def parse_list(value, options: ParseOptions) -> tuple[str, ...]:
    """A list, or one text split on ``options.list_separator``; empty items dropped.

    An item spanning lines is refused, and not quoted (it may be a licence key): it is what a CSV
    quote left open makes of the rows after it, or keys pasted without their separator."""
    if isinstance(value, (list, tuple)):
        items = [_scalar_text(v, "a list of texts") for v in value if v is not None]
    else:
        items = _scalar_text(value, "a list of texts").split(options.list_separator)
    items = [item.strip() for item in items if item.strip()]
    for n, item in enumerate(items, 1):
        if len(item.splitlines()) > 1:
            raise FieldError(f"item {n} holds a line break; expected each item on one line")
    return tuple(items)


def _split_currency(text: str) -> tuple[str, str | None]:
    """Take a currency symbol or code off either end of an amount."""
    for pattern, amount_group, code_group in ((_CURRENCY_PREFIX, 2, 1), (_CURRENCY_SUFFIX, 1, 2)):
        match = pattern.fullmatch(text)
        if match and match.group(amount_group):
            return match.group(amount_group), match.group(code_group)
    return text, None


def parse_money(value, options: ParseOptions) -> tuple[str, str | None, str | None]:
    """``(amount as decimal text, currency from the cell or None, the marker seen)``.

    Accepts ``1234.50`` and ``1,234.50`` (or ``1234,50`` and ``1.234,50`` with
    ``decimal_comma``), spaces as grouping, and ``$ € £`` or an ISO code on
    either side.
    """
    text = _scalar_text(value, "an amount")
    amount, marker = _split_currency(text)
    amount = _GROUPING_SPACES.sub("", amount)
    if options.decimal_comma:
        pattern, example = _AMOUNT_COMMA, "1234,50 or 1.234,50"
    else:
        pattern, example = _AMOUNT_POINT, "1234.50 or 1,234.50"
    if not pattern.fullmatch(amount):
        raise FieldError(f"expected an amount >= 0 like {example}, got {shown(value)}")
    if options.decimal_comma:
        amount = amount.replace(".", "").replace(",", ".")
    else:
        amount = amount.replace(",", "")
    whole, _, fraction = amount.partition(".")
    if len(whole.lstrip("0")) > MAX_DIGITS or len(fraction) > MAX_DECIMALS:
        raise FieldError(f"expected an amount of at most {MAX_DIGITS} digits before the decimal mark and "
                         f"{MAX_DECIMALS} after, got {shown(value)}")
    currency = None
    if marker is not None:
        currency = SYMBOLS.get(marker) or marker.upper()
        if currency not in ISO_4217:
            raise FieldError(f"unknown currency {shown(marker)} in the amount; expected $, €, £ or an ISO 4217 code")
    return str(Decimal(amount)), currency, marker


def parse_currency(value, options: ParseOptions) -> str:
    text = _scalar_text(value, "a currency code")
    code = SYMBOLS.get(text) or text.upper()
    if code not in ISO_4217:
        raise FieldError(f"expected an ISO 4217 currency code like EUR or USD, got {shown(value)}")
    return code
