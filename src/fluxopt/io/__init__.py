"""Readers (CSV in French-Excel and plain dialects, XLSX, TOML) and atomic writers."""
