""""Test from this browser": the station's side (:mod:`.server`, on the
websocket port), the durable record of browser tests (:mod:`.records`,
``<log-dir>/browser-tests.json``, read by the results store like the iperf3
logs) and the browser's description (:mod:`.agent`)."""
