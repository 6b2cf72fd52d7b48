"""webperf3.live: the websocket push with real websockets clients on
127.0.0.1: its messages, the log watcher, each client's bounded queue and the
caps on connections (test_outbox.py), and clients that never read."""
