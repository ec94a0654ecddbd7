"""The demo company behind `rapport demo`: Blue Magpie Motors, a Taiwanese car-dealer group.

Pure generators (no database): org (units, staff), people (customers), touchpoints (their
history), clock (days and opening hours), vehicles, names; generator.chunks puts them together.
actions loads the result through the ingestion functions. Later generators (surveys, complaints,
feedback) add a module here and their batches to generator.chunks.
"""
