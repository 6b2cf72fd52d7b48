"""webperf3.store: the results store over a log directory, and which files in
it are read at all (a FIFO, a device, a symlink out: never)."""
