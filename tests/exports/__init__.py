"""webperf3.exports: CSV, JSON and xlsx of the tests, as a spreadsheet reads them."""
