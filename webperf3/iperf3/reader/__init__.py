"""Reading iperf3's server logs: objects cut out of what was appended
(:mod:`.logs`), each decoded into a :class:`~webperf3.store.record.Result`
(:mod:`.entries`). The first stage of the data flow after iperf3 itself."""
