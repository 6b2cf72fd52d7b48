"""For the people who run stations: health as data (:mod:`.health`) and the
Prometheus metrics (:mod:`.metrics`), with the labels that come from the
network made safe (:mod:`.labels`)."""
