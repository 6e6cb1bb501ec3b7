"""Rendering of reports: HTML (Jinja2 template, inline matplotlib SVG), XLSX (xlsxwriter), CSV, terminal.

Nothing here computes a figure: the library (`bilan`, `kpis`, `compare`) hands over `Table`s and series.
"""
