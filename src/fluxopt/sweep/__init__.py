"""Scenario comparison for convention negotiation: variants of a base scenario planned side by side.

`spec` validates the sweep file, `variants` applies a variant to the base scenario and summarises its plan,
`montecarlo` replays vacancies drawn around the forecast, `commands` registers `fluxopt convert` and
`fluxopt sweep`. Tasks run on `fluxopt.engines` (serial, local processes or Dask).
"""
