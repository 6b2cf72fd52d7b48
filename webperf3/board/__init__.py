"""What every page, push and export shows: the tests of the results store
joined with what people added in the survey book (:mod:`.join`), and the
pure questions the pages ask of them: the history's listing (:mod:`.listing`)
and the places' tally (:mod:`.tally`); and which device holds which iperf3
port (:mod:`.leases`, the table, and :mod:`.leasing`, the board's one)."""
