"""From run records to the report: the record schema, aggregation, statistics, markdown, figures."""
