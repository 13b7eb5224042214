"""Pages of the report built from the results: the front page, readable tables and the embedding explorer."""
