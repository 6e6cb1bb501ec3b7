"""Decoding and cell parsing for the files users really have (French Excel and pipelines).

Every parser takes the cell text and returns a value or raises `CellError` with a French message; the
table reader turns that into a `Problem` naming file, line and column. Parsers are pure and memoised by
the caller (a column of 500,000 cells has a few dozen distinct values), which is what makes loading fast.

Decisions (documented in docs/formats.md):
- decoding: BOM (UTF-8 or UTF-16) → strict UTF-8 → strict cp1252; never latin-1, which silently garbles
  `œ € –` and accepts any byte, so binary junk would pass as text;
- dates: `dd/mm/yyyy` (also `d/m/yyyy`, `-` or `.` separators), ISO `yyyy-mm-dd`, an optional time part
  that is ignored, and Excel serial numbers only in XLSX cells. Two-digit years (`dd/mm/yy`) are refused:
  a lease date `01/02/30` could be 1930 or 2030, and fluxopt never guesses;
- numbers: decimal comma or point, thousands separated by spaces (incl. non-breaking U+00A0 and narrow
  U+202F) or, when both marks appear, by the other mark.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from fluxopt.domain.enums import Financing, Typology


class CellError(ValueError):
    """A cell that cannot be read; the message is French and says what is expected."""


# --------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------

_SPACES = "\u00a0\u202f\u2009\u2007 \t"


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a text file's bytes: (text, encoding name). Raises `CellError` for binary or unknown encodings."""
    if data.startswith(b"\xef\xbb\xbf"):
        encoding, body = "utf-8-sig", data[3:]
        try:
            return body.decode("utf-8"), encoding
        except UnicodeDecodeError as error:
            raise CellError(
                f"fichier marqué UTF-8 (BOM) mais illisible en UTF-8 à l'octet {error.start + 3}"
            ) from error
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as error:
            raise CellError("fichier marqué UTF-16 mais illisible en UTF-16") from error
    if data.startswith(b"PK\x03\x04"):
        raise CellError(
            "ce fichier est un classeur Excel (XLSX) ou une archive ZIP, pas un CSV : renommez-le en .xlsx"
        )
    if b"\x00" in data:
        raise CellError("fichier binaire (octets nuls) : un fichier texte CSV est attendu")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as error:
        raise CellError(
            f"encodage non reconnu (ni UTF-8 ni Windows-1252, octet 0x{data[error.start]:02X} "
            f"à la position {error.start}) : enregistrez le fichier en « CSV UTF-8 »"
        ) from error


# --------------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower-case, strip accents: `Année` → `annee`, `N°` → `n°`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def header_key(text: str) -> str:
    """Compact key of a header, ignoring case, accents, spacing and punctuation: `N° Logement` → `nlogement`."""
    return re.sub(r"[^a-z0-9]", "", fold(text).replace("°", "").replace("º", ""))


def header_tokens(text: str) -> list[str]:
    """Words of a header: `Date de naissance` → [`date`, `de`, `naissance`]."""
    return [t for t in re.split(r"[^a-z0-9]+", fold(text).replace("°", " ")) if t]


# --------------------------------------------------------------------------------------------------
# Numbers, rates, booleans
# --------------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def _strip_spaces(text: str) -> str:
    for ch in _SPACES:
        text = text.replace(ch, "")
    return text


def parse_number(text: str) -> float:
    """`1 234,5` / `1234.5` / `1.234,5` / `1,234.5` → float. A lone comma is the decimal mark."""
    raw = _strip_spaces(text.strip())
    if "," in raw and "." in raw:
        if raw.rfind(",") > raw.rfind("."):
            raw = raw.replace(".", "").replace(",", ".")
        else:
            raw = raw.replace(",", "")
    elif "," in raw:
        if raw.count(",") > 1:
            raise CellError("nombre illisible (plusieurs virgules)")
        raw = raw.replace(",", ".")
    if not _NUMBER.fullmatch(raw):
        raise CellError("nombre attendu")
    return float(raw)


def parse_int(text: str) -> int:
    """An integer, tolerating `1 975` and `1975,0` (Excel) but not `1975,5`."""
    value = parse_number(text)
    if not value.is_integer():
        raise CellError("nombre entier attendu")
    return int(value)


def parse_rate(text: str) -> float:
    """A yearly rate as a fraction: `0,055`, `0.055`, `5,5 %` → 0.055.

    Without `%` the value must be a fraction in [0, 1]: `5,5` is refused rather than guessed to be 5.5 %.
    """
    raw = text.strip()
    percent = raw.endswith("%")
    if percent:
        raw = raw[:-1]
    value = parse_number(raw)
    if percent:
        value /= 100.0
    elif value > 1:
        raise CellError(f"taux ambigu : écrivez {value / 100:g} ou « {text.strip()} % »".replace(".", ","))
    if not 0 <= value <= 1:
        raise CellError("taux attendu entre 0 et 1 (ou entre 0 % et 100 %)")
    return value


_TRUE = {"oui", "o", "1", "vrai", "true", "x", "y", "yes", "qpv"}
_FALSE = {"non", "n", "0", "faux", "false", "no", "", "horsqpv"}


def parse_bool(text: str) -> bool:
    """oui/non, o/n, 1/0, vrai/faux, true/false, `x`/empty (also RPLS QPV codes `QP092001` → yes)."""
    key = header_key(text)
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    if re.fullmatch(r"qp\d{6}", key):  # a QPV code as RPLS records it
        return True
    raise CellError("oui ou non attendu")


def parse_optional_flag(text: str) -> int:
    """-1 when empty (not recorded), else 0/1."""
    if not text.strip():
        return -1
    return 1 if parse_bool(text) else 0


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------

_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_YMD = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def parse_date(text: str, excel_serial: bool = False) -> dt.date:
    """`31/01/2026`, `2026-01-31` (a time part is ignored); Excel serial numbers only from XLSX cells."""
    raw = text.strip()
    match = _YMD.fullmatch(raw)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _DMY.fullmatch(raw)
        if match:
            day, month, year_text = int(match.group(1)), int(match.group(2)), match.group(3)
            if len(year_text) != 4:
                raise CellError("année à 4 chiffres attendue (jj/mm/aaaa) : fluxopt ne devine pas le siècle")
            year = int(year_text)
        elif excel_serial and re.fullmatch(r"\d{1,6}(\.\d+)?", raw):
            serial = float(raw)
            if not 1 <= serial < 2_958_466:
                raise CellError("date Excel hors limites")
            return _EXCEL_EPOCH + dt.timedelta(days=int(serial))
        else:
            raise CellError("date attendue au format jj/mm/aaaa ou aaaa-mm-jj")
    try:
        return dt.date(year, month, day)
    except ValueError as error:
        raise CellError("date impossible (jour ou mois hors limites)") from error


# --------------------------------------------------------------------------------------------------
# Closed vocabularies
# --------------------------------------------------------------------------------------------------


def parse_typology(text: str) -> Typology:
    """`T3`, `F3`, `3`, `3 pièces`, `T1 bis`, `studio`, `T6` → T5+ (also RPLS NBPIECE numbers)."""
    key = header_key(text)
    if key in ("studio", "chambre", "t1bis", "t1b"):
        return Typology.T1
    match = re.fullmatch(r"(?:t|f|type)?(\d{1,2})(?:bis|b|p|pieces?|pcs?|etplus|plus|et)?", key)
    if not match and text.strip().endswith("+"):
        match = re.fullmatch(r"(?:t|f|type)?(\d{1,2})", key)
    if not match:
        raise CellError("typologie attendue : T1, T2, T3, T4 ou T5+ (ou un nombre de pièces)")
    rooms = int(match.group(1))
    if rooms == 0:
        return Typology.T1
    return (Typology.T1, Typology.T2, Typology.T3, Typology.T4)[rooms - 1] if rooms <= 4 else Typology.T5_PLUS


#: RPLS `FINAN` numeric codes (financement initial du logement) folded into fluxopt's five classes.
#: Older State-aided loans are PLUS-equivalent (domain.md §9); PLA-I/PLA-TS are PLAI-equivalent.
RPLS_FINANCING_CODES: dict[str, Financing] = {
    "10": Financing.PLUS,  # prêts aidés par l'État avant 1977 (HLM/O, PLR, PSR, ILM, ILN…)
    "11": Financing.PLUS,  # PLA ordinaire
    "12": Financing.PLAI,  # PLA d'intégration (PLA-I)
    "13": Financing.PLAI,  # PLA à loyer minoré / très social (PLA-LM, PLA-TS)
    "14": Financing.PLUS,  # PLUS
    "15": Financing.PLAI,  # PLAI
    "16": Financing.PLS,  # PLS
    "17": Financing.PLI,  # PLI
    "49": Financing.OTHER,  # autres financements de l'État
    "50": Financing.OTHER,  # prêts conventionnés, autres
    "51": Financing.OTHER,
    "52": Financing.OTHER,
    "53": Financing.OTHER,
    "54": Financing.OTHER,
    "55": Financing.OTHER,
    "99": Financing.OTHER,  # sans financement aidé
}

_FINANCING_WORDS: dict[str, Financing] = {
    "plai": Financing.PLAI,
    "plaiadapte": Financing.PLAI,
    "platressocial": Financing.PLAI,
    "plats": Financing.PLAI,
    "plalm": Financing.PLAI,
    "plus": Financing.PLUS,
    "pluscd": Financing.PLUS,
    "pla": Financing.PLUS,
    "plaordinaire": Financing.PLUS,
    "hlmo": Financing.PLUS,
    "hlm": Financing.PLUS,
    "plr": Financing.PLUS,
    "psr": Financing.PLUS,
    "ilm": Financing.PLUS,
    "iln": Financing.PLUS,
    "hbm": Financing.PLUS,
    "pls": Financing.PLS,
    "pli": Financing.PLI,
    "autre": Financing.OTHER,
    "autres": Financing.OTHER,
    "other": Financing.OTHER,
    "pcl": Financing.OTHER,
    "paplocatif": Financing.OTHER,
    "libre": Financing.OTHER,
    "nonconventionne": Financing.OTHER,
}


def parse_financing(text: str) -> Financing:
    """PLAI/PLUS/PLS/PLI/AUTRE, common spellings (`PLA-I`, `HLM/O`…) and RPLS `FINAN` numeric codes."""
    key = header_key(text)
    if key in _FINANCING_WORDS:
        return _FINANCING_WORDS[key]
    digits = key.lstrip("0") or "0"
    if key.isdigit() and digits in RPLS_FINANCING_CODES:
        return RPLS_FINANCING_CODES[digits]
    raise CellError("financement attendu : PLAI, PLUS, PLS, PLI ou AUTRE (ou un code FINAN du RPLS)")


def parse_choice(text: str, choices: dict[str, str], expected: str) -> str:
    """A closed vocabulary matched by header key (case/accents/punctuation ignored)."""
    key = header_key(text)
    if key in choices:
        return choices[key]
    raise CellError(f"valeur inconnue : {expected} attendu")
