"""fluxopt — planner for social-housing reservation flows (*gestion en flux*).

Data flows one way: load → validate → forecast → model → solve → sequence → report.
"""

__version__ = "0.1.0"
