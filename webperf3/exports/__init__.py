"""Everything that leaves the station as a file for a spreadsheet or a
script: the tests as CSV and JSON (:mod:`.results`), the places table as CSV
(:mod:`.placetable`) and the Excel workbook (:mod:`.workbook`). Pure
generators of bytes or text, streamed; the routes (:mod:`webperf3.web`) and
the offline ``webperf3 export`` (:mod:`webperf3.cli`) write them out."""
