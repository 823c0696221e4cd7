"""Landing files: what a tap sent, typed and written as Parquet, one set per stream per partition.

Extraction writes here in parallel (no lake lock needed); loads read from here into the lake.
"""
