"""① Producers of samples: host, textfile, kafka, warehouse."""
