"""webperf3.board: the store joined with the survey book; the places table."""
