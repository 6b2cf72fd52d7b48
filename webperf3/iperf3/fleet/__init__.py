"""The iperf3 server fleet: N supervised ``iperf3 --server`` children
(:mod:`.servers`), what it knows of each (:mod:`.state`), one process's
command line and version (:mod:`.process`, :mod:`.cmdline`), who holds a port
(:mod:`.ports`) and the log each writes into (:mod:`.logfile`)."""
