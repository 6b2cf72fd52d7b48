"""webperf3.web: the dashboard's routes and APIs at WSGI level (WebTest), over
real log entries and a real survey book."""
