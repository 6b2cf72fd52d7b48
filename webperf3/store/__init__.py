"""The results store: the one record every part passes around (:mod:`.record`,
one iperf3 test) and every test the logs hold, kept current (:mod:`.results`).

Downstream of the reader (:mod:`webperf3.iperf3.reader`), upstream of
everything people see: the board, the live push, the metrics, the exports."""
