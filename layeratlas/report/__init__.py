"""The report's own pages, built from the results: the front page (the study and its findings, written
from the summary table) and readable HTML renderings of the result tables.

- ``front_page``: model pairs, findings as numbers and sentences, the front page HTML
- ``tables``: one result table (.tsv/.parquet) as a formatted HTML page
"""
