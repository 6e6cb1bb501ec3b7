"""Cell parsers and decoding: explicit formats only, French and pipeline dialects, never a guess."""

from __future__ import annotations

import datetime as dt

import pytest

from fluxopt.domain.enums import Financing, Typology
from fluxopt.io.table import looks_personal
from fluxopt.io.text import (
    CellError,
    decode_bytes,
    header_key,
    parse_bool,
    parse_date,
    parse_financing,
    parse_int,
    parse_number,
    parse_rate,
    parse_typology,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31/01/2026", dt.date(2026, 1, 31)),
        ("1/2/2026", dt.date(2026, 2, 1)),
        ("01.02.2026", dt.date(2026, 2, 1)),
        ("01-02-2026", dt.date(2026, 2, 1)),
        ("2026-02-01", dt.date(2026, 2, 1)),
        ("2026-02-01 00:00:00", dt.date(2026, 2, 1)),
        ("2026-02-01T13:45:00Z", dt.date(2026, 2, 1)),
        ("01/02/2026 08:30", dt.date(2026, 2, 1)),
    ],
)
def test_dates_in_explicit_formats(text: str, expected: dt.date) -> None:
    assert parse_date(text) == expected


def test_day_first_never_swapped() -> None:
    # 02/01 is the 2nd of January in France, whatever a US reader would think
    assert parse_date("02/01/2026") == dt.date(2026, 1, 2)


@pytest.mark.parametrize(
    "text", ["01/02/26", "31/02/2026", "2026/02/01", "1er février 2026", "45678", "2026-13-01"]
)
def test_bad_or_ambiguous_dates_are_refused(text: str) -> None:
    with pytest.raises(CellError):
        parse_date(text)


def test_excel_serial_only_from_xlsx() -> None:
    assert parse_date("46023", excel_serial=True) == dt.date(2026, 1, 1)
    with pytest.raises(CellError):
        parse_date("46023")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234,5", 1234.5),
        ("1234.5", 1234.5),
        ("1 234,5", 1234.5),
        ("1\u00a0234,5", 1234.5),
        ("1\u202f234,5", 1234.5),
        ("1.234,5", 1234.5),
        ("1,234.5", 1234.5),
        ("-3", -3.0),
    ],
)
def test_numbers(text: str, expected: float) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["1,2,3", "abc", "12a", "=1+1", "+-1", ""])
def test_bad_numbers(text: str) -> None:
    with pytest.raises(CellError):
        parse_number(text)


def test_integers_accept_excel_decimals_but_not_fractions() -> None:
    assert parse_int("1975,0") == 1975
    assert parse_int("1 975") == 1975
    with pytest.raises(CellError):
        parse_int("1975,5")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,055", 0.055),
        ("0.055", 0.055),
        ("5,5 %", 0.055),
        ("5.5%", 0.055),
        ("5,5\u202f%", 0.055),
        ("0", 0.0),
    ],
)
def test_rates(text: str, expected: float) -> None:
    assert parse_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["5,5", "30", "150 %", "-0,1"])
def test_ambiguous_or_impossible_rates(text: str) -> None:
    with pytest.raises(CellError):
        parse_rate(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oui", True),
        ("Non", False),
        ("O", True),
        ("n", False),
        ("1", True),
        ("0", False),
        ("VRAI", True),
        ("faux", False),
        ("true", True),
        ("x", True),
        ("QP092001", True),
    ],
)
def test_booleans(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


def test_unknown_boolean() -> None:
    with pytest.raises(CellError):
        parse_bool("peut-être")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T1", Typology.T1),
        ("t2", Typology.T2),
        ("F3", Typology.T3),
        ("4", Typology.T4),
        ("T5", Typology.T5_PLUS),
        ("T5+", Typology.T5_PLUS),
        ("6", Typology.T5_PLUS),
        ("T1 bis", Typology.T1),
        ("Studio", Typology.T1),
        ("3 pièces", Typology.T3),
        ("T 2", Typology.T2),
    ],
)
def test_typologies(text: str, expected: Typology) -> None:
    assert parse_typology(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PLAI", Financing.PLAI),
        ("PLA-I", Financing.PLAI),
        ("plus", Financing.PLUS),
        ("HLM/O", Financing.PLUS),
        ("PLS", Financing.PLS),
        ("PLI", Financing.PLI),
        ("Autre", Financing.OTHER),
        ("16", Financing.PLS),
        ("14", Financing.PLUS),
        ("12", Financing.PLAI),
        ("99", Financing.OTHER),
    ],
)
def test_financing_words_and_rpls_codes(text: str, expected: Financing) -> None:
    assert parse_financing(text) is expected


@pytest.mark.parametrize("text", ["PLUSS", "42", "prêt"])
def test_unknown_financing(text: str) -> None:
    with pytest.raises(CellError):
        parse_financing(text)


def test_decoding_order_bom_utf8_cp1252() -> None:
    assert decode_bytes("\ufeffAnnée".encode()) == ("Année", "utf-8-sig")
    assert decode_bytes("Année".encode()) == ("Année", "utf-8")
    # cp1252, never latin-1: œ and € survive
    assert decode_bytes("Cœur 5 €".encode("cp1252")) == ("Cœur 5 €", "cp1252")
    assert decode_bytes("Année".encode("utf-16")) == ("Année", "utf-16")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"a\x00b", "binaire"),
        (b"a,b\n" * 40000 + b"\x00", "binaire"),
        (b"PK\x03\x04rest", "classeur Excel"),
        (b"ab\x81\x8d", "encodage"),
    ],
)
def test_undecodable_bytes(data: bytes, fragment: str) -> None:
    with pytest.raises(CellError, match=fragment):
        decode_bytes(data)


def test_header_keys_ignore_case_accents_spacing_punctuation() -> None:
    assert header_key("N° Logement") == header_key("nlogement") == "nlogement"
    assert header_key(" Année  de construction ") == header_key("annee_de_construction")
    assert header_key("Code INSEE") == "codeinsee"


@pytest.mark.parametrize(
    "header",
    [
        "Nom",
        "Prénom",
        "NOM DU DEMANDEUR",
        "NUR",
        "Numéro unique",
        "N° unique régional",
        "Date de naissance",
        "Téléphone",
        "Tél. portable",
        "E-mail",
        "Courriel",
        "Adresse",
        "Adresse du demandeur",
        "Nom prénom",
    ],
)
def test_personal_headers(header: str) -> None:
    assert looks_personal(header)


@pytest.mark.parametrize(
    "header",
    [
        "Nom du programme",
        "Adresse du logement",
        "Commune",
        "Date de libération",
        "Typologie",
        "NOMVOIE",
        "LIBCOM",
    ],
)
def test_headers_that_are_not_personal(header: str) -> None:
    assert not looks_personal(header)
