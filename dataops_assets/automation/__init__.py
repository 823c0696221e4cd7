"""When things run: partitions, schedules, sensors, pools."""
