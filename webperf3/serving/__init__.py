"""Serving HTTP to a shared network: waitress with the station's limits
(:mod:`.httpserver`), the WSGI guard in front of the app (:mod:`.guard`),
the names the station answers to (:mod:`.hosts`) and who a client is and
what it holds (:mod:`.clients`)."""
