"""The two data movements, as plain functions with no Dagster in them: tap -> landing, landing -> lake."""
