"""The report: metrics over the store (`metrics`, `attribution`, `history` the pure reference
path; `aggregate` the same numbers from SQL), built by `report` and rendered by `render`."""
