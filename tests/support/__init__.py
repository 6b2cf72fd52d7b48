"""What the tests share, by role. Nothing here is a test or a fixture (those
are in the conftest.py files, which call these); each helper exists once.

- :mod:`.paths`: the checkout, tests/data, the prototype's logs;
- :mod:`.logs`: sample logs installed and read by a real store, single
  entries re-dated and renamed as iperf3 writes them;
- :mod:`.samples`: the real logs of every iperf3 version, read with Python's
  own json module, and the binaries that made them;
- :mod:`.iperf3`: real iperf3 clients, the builds of every release, a log's
  objects read with no code of the reader under test;
- :mod:`.processes`: whether a process runs, ending one as systemd would,
  the iperf3 children a test may leave;
- :mod:`.ports`: free ports (one ``free_port``, one ``free_ports``);
- :mod:`.waiting`: ``wait_until`` and the slowness factor every deadline is
  stretched by;
- :mod:`.live`: a real websocket client of the live push;
- :mod:`.hostile`: sockets from other loopback addresses, raw HTTP and
  websocket handshakes, a process's memory and descriptors;
- :mod:`.station`: ``python -m webperf3`` as a process on free ports;
- :mod:`.parts`: a dashboard or a live push in-process, with the survey
  book and board made once as the station makes them;
- :mod:`.fleet`: stations, the shipped docs/fleet files and a certificate
  for the Prometheus fleet test;
- :mod:`.prometheus`: a real Prometheus and promtool;
- :mod:`.netns`: a client in a network namespace whose link can be cut;
- :mod:`.chromium`: whether Chromium can start here at all;
- :mod:`.fuzz`: the hypothesis profiles and the kept failing inputs;
- :mod:`.book_writer`: a process writing a survey book until it is killed.
"""
