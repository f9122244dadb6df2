"""What a running crispml tells its operators: perf spans (`perf`), and what is built on them: the InfluxDB
exporter (`influx`)."""
