"""dbt on the lake: the project, the translator that wires sources to lake assets, and the dbt assets."""
