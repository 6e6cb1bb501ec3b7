"""Property tests: whatever bytes or tables the loaders are fed, only fluxopt's own input error comes out."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BASE_SCENARIO
from fluxopt.errors import InputError
from fluxopt.io.scenario import load_scenario

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_with(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "s"
        shutil.copytree(BASE_SCENARIO, folder)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        try:
            load_scenario(folder, warn=lambda _: None)
        except InputError as error:
            assert error.problems or error.message
            for problem in error.problems:
                problem.render()


@SETTINGS
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_as_stock(data: bytes) -> None:
    _load_with({"patrimoine.csv": data})


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_as_designations(data: bytes) -> None:
    _load_with({"designations.csv": data})


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_as_scenario_toml(data: bytes) -> None:
    _load_with({"scenario.toml": data})


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=4, max_size=3000))
def test_arbitrary_bytes_as_xlsx(data: bytes) -> None:
    toml = (
        (BASE_SCENARIO / "scenario.toml")
        .read_text(encoding="utf-8")
        .replace("patrimoine.csv", "patrimoine.xlsx")
    )
    _load_with({"scenario.toml": toml.encode(), "patrimoine.xlsx": b"PK\x03\x04" + data})


CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "L01",
            "L02",
            "P1",
            "92046",
            "92025",
            "oui",
            "non",
            "T3",
            "T5+",
            "PLUS",
            "PLAI",
            "1975",
            "2026-02-01",
            "01/02/2026",
            "5,5 %",
            "0,05",
            "defense",
            "mutation_interne",
            "AL-92",
            "BAILLEUR",
            "bail_signe",
            "carence",
            "=1+1",
            '"',
            ";",
            ",",
            "\n",
            "\u00a0",
            "€",
            "œ",
        ]
    ),
    st.text(max_size=12),
)
HEADERS = [
    "logement",
    "programme",
    "commune",
    "qpv",
    "typologie",
    "financement",
    "annee_construction",
    "rotation",
    "hors_flux",
    "date_bail",
    "N° logement",
    "Type",
    "Nom",
    "date_liberation",
    "exclusion",
    "date",
    "convention",
    "statut",
    "date_bail",
    "Téléphone",
]


@st.composite
def tables(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=10))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(headers) + 2), max_size=12))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))

    def quote(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in f'"{delimiter}\n') else cell

    text = "\n".join(delimiter.join(quote(c) for c in row) for row in [headers, *rows]) + "\n"
    return text.encode(encoding, errors="replace")


@SETTINGS
@given(tables())
def test_arbitrary_tables_as_stock(data: bytes) -> None:
    _load_with({"patrimoine.csv": data})


@SETTINGS
@given(tables(), tables())
def test_arbitrary_tables_as_vacancies_and_designations(vacancies: bytes, designations: bytes) -> None:
    _load_with({"vacances.csv": vacancies, "designations.csv": designations})
